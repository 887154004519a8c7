import { Hono, type MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import { secureHeaders } from 'hono/secure-headers';
import { AppError, errorHandler, httpErrorOf } from '../core/errors';
import { limitBody } from '../core/http';
import { secretsEqual } from '../core/secrets';
import { reportIncident } from '../incidents/incidents';
import type { TaskRegistry } from '../tasks/task';
import { consoleCss, consoleJs, favicon } from './assets';
import { campaignPages } from './campaigns.pages';
import { type AppFetch, type C, ConsoleApi, type ConsoleEnv, SESSION_COOKIE } from './console.kit';
import type { ConsoleSession } from './console.schema';
import { operationsPages } from './operations.pages';
import { findSession } from './sessions';
import { signInPages } from './sign-in.pages';
import { taskPages } from './tasks.pages';
import { ErrorPage } from './views';

/** The only `/admin` routes served without a session: the sign-in form and the static files. */
export const publicConsoleRoutes = [
  'GET /admin/login',
  'POST /admin/login',
  'GET /admin/static/console.css',
  'GET /admin/static/console.js',
  'GET /admin/static/favicon.svg',
];

/**
 * A signed-in form, in bytes: the new-campaign form's three texts of 4,096 characters are at most
 * about 110 KiB percent-encoded (9 bytes a character of CJK text).
 */
const CONSOLE_FORM_MAX_BYTES = 256 * 1024;

/**
 * The web console at `/admin`: sign-in with the admin token, then campaigns, tasks, operations and
 * the API reference, one module of routes per page. Pages are rendered here; every change goes
 * through the admin API (`ConsoleApi`), so the console validates and behaves exactly as the API does.
 */
export function consoleRoutes(deps: { registry: TaskRegistry; fetch: AppFetch }) {
  const api = new ConsoleApi(deps.fetch);
  const onError = errorHandler(reportIncident);
  return (
    new Hono<ConsoleEnv>()
      // A refusal (401, 403, 404, 409, ...) is a page a person can read; anything else is the app's 500.
      .onError((err, c) => {
        const refused = httpErrorOf(err);
        if (!refused) return onError(err, c);
        const session = c.get('session') as ConsoleSession | undefined;
        return c.html(
          <ErrorPage csrf={session?.csrfToken} status={refused.status} message={refused.body.message} signedIn={!!session} />,
          refused.status,
        );
      })
      .use('*', consoleHeaders())
      .use('*', requireSession())
      .get('/static/console.css', (c) => asset(c, consoleCss, 'text/css; charset=utf-8'))
      .get('/static/console.js', (c) => asset(c, consoleJs, 'text/javascript; charset=utf-8'))
      .get('/static/favicon.svg', (c) => asset(c, favicon, 'image/svg+xml'))
      .get('/', (c) => c.redirect('/admin/campaigns', 303))
      .route('/', signInPages())
      .route('/', campaignPages(api))
      .route('/', taskPages(api, deps.registry))
      .route('/', operationsPages(api))
  );
}

const formLimit = limitBody(CONSOLE_FORM_MAX_BYTES);

/**
 * Every `/admin` route but the public ones needs the session cookie; a page asked for without one
 * goes to the sign-in form, anything else is 401. A POST must carry the session's CSRF token.
 */
function requireSession(): MiddlewareHandler<ConsoleEnv> {
  return async (c, next) => {
    if (publicConsoleRoutes.includes(`${c.req.method} ${c.req.path}`)) return next();
    const token = getCookie(c, SESSION_COOKIE);
    const session = token ? await findSession(c.var.db, token, c.var.config.ADMIN_API_TOKEN) : undefined;
    if (!session) {
      if (c.req.method === 'GET' && (c.req.header('accept') ?? '').includes('text/html')) return c.redirect('/admin/login', 303);
      throw new AppError(401, 'unauthorized', 'sign in to the console first');
    }
    if (c.req.method === 'GET' || c.req.method === 'HEAD') {
      c.set('session', session);
      return next();
    }
    // The form is read only once the session is known, and only up to the largest form the console has.
    return formLimit(c, async () => {
      const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
      const given = typeof form._csrf === 'string' ? form._csrf : '';
      if (!secretsEqual(session.csrfToken, given)) throw new AppError(403, 'csrf', 'missing or wrong CSRF token; reload the page');
      c.set('session', session);
      await next();
    });
  };
}

/** A strict CSP (scripts, styles and connections from the Worker only; no inline code), no framing, no caching. */
function consoleHeaders(): MiddlewareHandler<ConsoleEnv> {
  const headers = secureHeaders({
    contentSecurityPolicy: {
      defaultSrc: ["'none'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      imgSrc: ["'self'"],
      connectSrc: ["'self'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
      baseUri: ["'none'"],
    },
    referrerPolicy: 'same-origin',
    crossOriginEmbedderPolicy: false,
  });
  return async (c, next) => {
    await headers(c, next);
    if (!c.res.headers.has('cache-control')) c.res.headers.set('cache-control', 'no-store');
  };
}

function asset(c: C, body: string, type: string): Response {
  return c.body(body, 200, { 'content-type': type, 'cache-control': 'public, max-age=300' });
}
