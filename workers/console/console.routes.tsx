import { desc } from 'drizzle-orm';
import { type Context, Hono, type MiddlewareHandler } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { secureHeaders } from 'hono/secure-headers';
import { z } from 'zod';
import { incidents } from '../../durable-objects/incidents/incidents.do';
import { type Capability, capabilities, capabilityTable } from '../core/capabilities';
import { AppError, type ErrorBody, errorHandler } from '../core/errors';
import { type AppEnv, limitBody } from '../core/http';
import { errorMessage } from '../core/logger';
import { secretsEqual } from '../core/secrets';
import { reportIncident } from '../incidents/incidents';
import { nodeHealthTable, serviceHealthTable } from '../monitoring/monitoring.schema';
import { recentNodeEvents } from '../monitoring/nodes';
import { anomaliesTable } from '../reports/reports.schema';
import { kick } from '../tasks/kick';
import type { TaskRegistry } from '../tasks/task';
import { getRun } from '../tasks/tasks.repo';
import { consoleCss, consoleJs, favicon } from './assets';
import type { ConsoleSession } from './console.schema';
import { closeSession, findSession, openSession, randomToken, SESSION_TTL_SECONDS } from './sessions';
import { clientNetwork, signInAttempt } from './sign-in-limit';
import {
  ApiReferencePage,
  CampaignPage,
  CampaignsPage,
  type CampaignView,
  ErrorPage,
  LoginPage,
  type OpenApiDoc,
  type OperationsData,
  OperationsPage,
  type RunView,
  TasksPage,
} from './views';

type ConsoleEnv = { Bindings: Env; Variables: AppEnv['Variables'] & { session: ConsoleSession } };
type C = Context<ConsoleEnv>;

/** Hands a request to the app itself: the console is a client of the admin API, inside the Worker. */
export type AppFetch = (request: Request, env: Env, ctx?: ExecutionContext) => Response | Promise<Response>;

export const SESSION_COOKIE = 'flarecast_session';
const LOGIN_COOKIE = 'flarecast_login';

/** The only `/admin` routes served without a session: the sign-in form and the static files. */
export const publicConsoleRoutes = [
  'GET /admin/login',
  'POST /admin/login',
  'GET /admin/static/console.css',
  'GET /admin/static/console.js',
  'GET /admin/static/favicon.svg',
];

const cookieBase = { path: '/admin', httpOnly: true, secure: true, sameSite: 'Strict' } as const;

/** The sign-in form: a CSRF token and the admin token, in bytes. Read by no one who is not signed in yet. */
export const SIGN_IN_FORM_MAX_BYTES = 8 * 1024;
/**
 * A signed-in form, in bytes: the new-campaign form's three texts of 4,096 characters are at most
 * about 110 KiB percent-encoded (9 bytes a character of CJK text).
 */
const CONSOLE_FORM_MAX_BYTES = 256 * 1024;

/**
 * Pages as the console says them after a redirect (`?done=`): only these fixed strings are shown,
 * so no text from the URL reaches the page.
 */
const notices: Record<string, string> = {
  created: 'Draft created. Preview it, then start it.',
  start: 'Started.',
  pause: 'Paused: sends stop within a second.',
  resume: 'Resumed.',
  cancel: 'Cancelled.',
  preview: 'Preview sent.',
  rekick: 'Kicked again as a new run.',
};

const optionalInt = z
  .string()
  .trim()
  .default('')
  .transform((v, ctx) => {
    if (v === '') return undefined;
    if (!/^-?\d+$/.test(v)) {
      ctx.addIssue({ code: 'custom', message: 'must be a whole number' });
      return z.NEVER;
    }
    return Number(v);
  });

/** The new-campaign form, as the browser posts it; turned into the API's JSON body. */
const campaignForm = z.object({
  title: z.string().trim().min(1, 'required'),
  kind: z.enum(['text', 'copy']).default('text'),
  text: z.string().default(''),
  parse_mode: z.enum(['', 'HTML', 'MarkdownV2']).default(''),
  copy_from_chat_id: optionalInt,
  copy_message_id: optionalInt,
  variant_language_1: z.string().trim().default(''),
  variant_text_1: z.string().default(''),
  variant_language_2: z.string().trim().default(''),
  variant_text_2: z.string().default(''),
  audience_languages: z.string().default(''),
  rate_per_second: optionalInt,
  paid_broadcast: z.literal('on').optional(),
  scheduled_at: z
    .string()
    .trim()
    .default('')
    .refine((v) => v === '' || /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?$/.test(v), 'must be a date and time'),
});

function campaignBody(f: z.infer<typeof campaignForm>) {
  const parseMode = f.parse_mode || undefined;
  const messages: Record<string, unknown>[] = [
    f.kind === 'copy'
      ? { language_code: null, copy: { from_chat_id: f.copy_from_chat_id, message_id: f.copy_message_id } }
      : { language_code: null, text: f.text, parse_mode: parseMode },
  ];
  for (const [language, text] of [
    [f.variant_language_1, f.variant_text_1],
    [f.variant_language_2, f.variant_text_2],
  ] as const) {
    if (language || text.trim()) messages.push({ language_code: language, text, parse_mode: parseMode });
  }
  const languages = f.audience_languages
    .split(/[\s,]+/)
    .map((l) => l.trim())
    .filter(Boolean);
  return {
    title: f.title,
    messages,
    audience: languages.length ? { language_codes: languages } : {},
    paid_broadcast: f.paid_broadcast === 'on',
    rate_per_second: f.rate_per_second,
    scheduled_at: f.scheduled_at ? `${f.scheduled_at.length === 16 ? `${f.scheduled_at}:00` : f.scheduled_at}Z` : undefined,
  };
}

type ApiResult<T> = { ok: true; data: T } | { ok: false; status: number; message: string };

/**
 * The web console at `/admin`: sign-in with the admin token, then campaigns, tasks, operations and
 * the API reference. Pages are rendered here; every change goes through the admin API (called inside
 * the Worker with the admin token, which never reaches the browser), so the console validates and
 * behaves exactly as the API does.
 */
export function consoleRoutes(deps: { registry: TaskRegistry; fetch: AppFetch }) {
  const callApi = (c: C, method: string, path: string, body?: unknown): Promise<Response> => {
    const headers = new Headers({ authorization: `Bearer ${c.var.config.ADMIN_API_TOKEN}`, 'x-correlation-id': c.var.log.correlationId });
    if (body !== undefined) headers.set('content-type', 'application/json');
    const request = new Request(new URL(`/api${path}`, c.req.url), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return Promise.resolve(deps.fetch(request, c.env, executionCtx(c)));
  };
  const api = async <T,>(c: C, method: string, path: string, body?: unknown): Promise<ApiResult<T>> => {
    const res = await callApi(c, method, path, body);
    if (res.ok) return { ok: true, data: (await res.json()) as T };
    const error = (await res.json().catch(() => ({ message: res.statusText }))) as Partial<ErrorBody>;
    return { ok: false, status: res.status, message: error.message ?? `HTTP ${res.status}` };
  };
  const must = <T,>(result: ApiResult<T>): T => {
    // The API's refusal stands (404, 400 naming the field); its own failure is a bad gateway here.
    if (!result.ok)
      throw result.status < 500
        ? new AppError(result.status as 400, result.status === 404 ? 'not_found' : 'invalid_request', result.message)
        : new AppError(502, 'api_failed', result.message);
    return result.data;
  };
  const passThrough = async (c: C, path: string) => {
    const res = await callApi(c, 'GET', path);
    return new Response(res.body, res);
  };
  const campaignPage = async (c: C, id: string, error?: { status: number; message: string }) => {
    const campaign = must(await api<CampaignView>(c, 'GET', `/campaigns/${id}`));
    const notice = noticeOf(c);
    return c.html(
      <CampaignPage csrf={c.var.session.csrfToken} c={campaign} notice={notice} error={error?.message} />,
      (error?.status ?? 200) as 200,
    );
  };
  const campaignsPage = async (c: C, form: Record<string, string> = {}, error?: { status: number; message: string }) => {
    const query = new URLSearchParams({ limit: '20', ...(c.req.query('cursor') ? { cursor: c.req.query('cursor') as string } : {}) });
    const page = must(await api<{ campaigns: CampaignView[]; next_cursor: string | null }>(c, 'GET', `/campaigns?${query}`));
    return c.html(
      <CampaignsPage
        csrf={c.var.session.csrfToken}
        campaigns={page.campaigns}
        next={page.next_cursor}
        form={form}
        error={error?.message}
      />,
      (error?.status ?? 200) as 200,
    );
  };

  const onError = errorHandler(reportIncident);
  return (
    new Hono<ConsoleEnv>()
      // A refusal (401, 403, 404, 409, ...) is a page a person can read; anything else is the app's 500.
      .onError((err, c) => {
        if (!(err instanceof AppError)) return onError(err, c);
        const session = c.get('session') as ConsoleSession | undefined;
        return c.html(<ErrorPage csrf={session?.csrfToken} status={err.status} message={err.message} signedIn={!!session} />, err.status);
      })
      .use('*', consoleHeaders())
      .use('*', requireSession())
      .get('/static/console.css', (c) => asset(c, consoleCss, 'text/css; charset=utf-8'))
      .get('/static/console.js', (c) => asset(c, consoleJs, 'text/javascript; charset=utf-8'))
      .get('/static/favicon.svg', (c) => asset(c, favicon, 'image/svg+xml'))
      // Before anything reads the form: the only post anyone may send without a session.
      .use('/login', limitBody(SIGN_IN_FORM_MAX_BYTES))
      .get('/login', (c) => signInForm(c))
      .post('/login', async (c) => {
        const network = clientNetwork(c.req.header('cf-connecting-ip'));
        if (!network) {
          c.var.log.warn('console_sign_in_refused', { reason: 'no client address' });
          return signInForm(c, 'Sign-in needs the client address the edge reports.', 400);
        }
        const verdict = await signInAttempt(c.env, network);
        if (verdict !== 'allowed') {
          c.var.log.warn('console_sign_in_throttled', { network, verdict });
          const message =
            verdict === 'client_throttled'
              ? 'Too many sign-in attempts from this address; wait a minute.'
              : 'Too many sign-in attempts right now; wait a minute.';
          return signInForm(c, message, 429, getCookie(c, LOGIN_COOKIE));
        }
        const expected = getCookie(c, LOGIN_COOKIE);
        // No form cookie: a forged post, or a form left open past its 10 minutes. Refused unread.
        if (!expected) return signInForm(c, 'The sign-in form expired; sign in again.', 403);
        const form = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
        if (typeof form._csrf !== 'string' || !secretsEqual(expected, form._csrf))
          return signInForm(c, 'The sign-in form expired; sign in again.', 403);
        if (typeof form.token !== 'string' || !secretsEqual(c.var.config.ADMIN_API_TOKEN, form.token)) {
          c.var.log.warn('console_sign_in_refused', { network });
          return signInForm(c, 'Wrong token.', 401, expected);
        }
        const session = await openSession(c.var.db, c.var.config.ADMIN_API_TOKEN);
        deleteCookie(c, LOGIN_COOKIE, { ...cookieBase, path: '/admin/login' });
        setCookie(c, SESSION_COOKIE, session.token, { ...cookieBase, maxAge: SESSION_TTL_SECONDS });
        c.var.log.info('console_signed_in');
        return c.redirect('/admin/campaigns', 303);
      })
      .post('/logout', async (c) => {
        await closeSession(c.var.db, getCookie(c, SESSION_COOKIE) as string);
        deleteCookie(c, SESSION_COOKIE, cookieBase);
        return c.redirect('/admin/login', 303);
      })
      .get('/', (c) => c.redirect('/admin/campaigns', 303))
      .get('/campaigns', (c) => campaignsPage(c))
      .post('/campaigns', async (c) => {
        const raw = Object.fromEntries(
          Object.entries(await c.req.parseBody()).filter((e): e is [string, string] => typeof e[1] === 'string'),
        );
        const parsed = campaignForm.safeParse(raw);
        if (!parsed.success) {
          const issue = parsed.error.issues[0];
          return campaignsPage(c, raw, { status: 400, message: `${issue?.path.join('.') || 'form'}: ${issue?.message ?? 'invalid'}` });
        }
        const created = await api<CampaignView>(c, 'POST', '/campaigns', campaignBody(parsed.data));
        if (!created.ok) return campaignsPage(c, raw, created);
        return c.redirect(`/admin/campaigns/${created.data.id}?done=created`, 303);
      })
      .get('/campaigns/:id{[0-9a-f-]{36}}', (c) => campaignPage(c, c.req.param('id')))
      // The API's streams, passed through: the browser's EventSource sends the session cookie, not a token.
      .get('/campaigns/:id{[0-9a-f-]{36}}/events', (c) => passThrough(c, `/campaigns/${c.req.param('id')}/events`))
      .get('/bulk/:id{[0-9a-f-]{36}}/events', (c) => passThrough(c, `/bulk/${c.req.param('id')}/events`))
      .get('/dashboard/events', (c) => passThrough(c, '/dashboard/events'))
      .post('/campaigns/:id{[0-9a-f-]{36}}/preview', async (c) => {
        const id = c.req.param('id');
        const form = await c.req.parseBody();
        const chat = optionalInt.safeParse(typeof form.chat_id === 'string' ? form.chat_id : '');
        if (!chat.success || chat.data === undefined)
          return campaignPage(c, id, { status: 400, message: 'chat_id: must be a whole number' });
        const language = typeof form.language_code === 'string' && form.language_code.trim() ? form.language_code.trim() : null;
        const sent = await api(c, 'POST', `/campaigns/${id}/test`, { chat_id: chat.data, language_code: language });
        if (!sent.ok) return campaignPage(c, id, sent);
        return c.redirect(`/admin/campaigns/${id}?done=preview`, 303);
      })
      .post('/campaigns/:id{[0-9a-f-]{36}}/:action{(?:start|pause|resume|cancel)}', async (c) => {
        const { id, action } = c.req.param();
        const result = await api(c, 'POST', `/campaigns/${id}/${action}`);
        if (!result.ok) return campaignPage(c, id, result);
        return c.redirect(`/admin/campaigns/${id}?done=${action}`, 303);
      })
      .get('/tasks', async (c) => {
        const filter = { name: c.req.query('name') || undefined, status: c.req.query('status') || undefined };
        const query = new URLSearchParams(
          Object.entries({ ...filter, cursor: c.req.query('cursor') }).filter((e): e is [string, string] => !!e[1]),
        );
        const page = await api<{ runs: RunView[]; next_cursor: string | null }>(c, 'GET', `/tasks?${query}`);
        return c.html(
          <TasksPage
            csrf={c.var.session.csrfToken}
            runs={page.ok ? page.data.runs : []}
            next={page.ok ? page.data.next_cursor : null}
            names={deps.registry.names()}
            filter={filter}
            notice={noticeOf(c)}
            error={page.ok ? undefined : page.message}
          />,
          page.ok ? 200 : (page.status as 400),
        );
      })
      .post('/tasks/:id{[0-9a-f-]{36}}/rekick', async (c) => {
        const run = await getRun(c.var.db, c.req.param('id'));
        if (!run) throw new AppError(404, 'not_found', 'no such task run');
        if (run.status !== 'dead')
          throw new AppError(409, 'invalid_transition', `only dead runs are kicked again; this one is ${run.status}`);
        // Keyed by the dead run, in the system's own key scope: a double submit or two admins at once
        // kick it again once, not twice, and no API caller can take the key first.
        const { db, config, log } = c.var;
        await kick(
          { db, queue: c.env.TASKS_QUEUE, registry: deps.registry, config, log },
          {
            name: run.name,
            args: run.args,
            idempotencyKey: `rekick:${run.id}`,
          },
        );
        c.var.log.info('console_rekick', { run: run.id, task: run.name });
        return c.redirect(`/admin/tasks?name=${encodeURIComponent(run.name)}&done=rekick`, 303);
      })
      .get('/operations', async (c) => c.html(<OperationsPage csrf={c.var.session.csrfToken} data={await operations(c)} />))
      .get('/api', async (c) =>
        c.html(<ApiReferencePage csrf={c.var.session.csrfToken} doc={must(await api<OpenApiDoc>(c, 'GET', '/openapi.json'))} />),
      )
  );

  /** Every part read at once; a part that fails is named on the page and the others still show. */
  async function operations(c: C): Promise<OperationsData> {
    const { db } = c.var;
    const problems: string[] = [];
    const part = async <T,>(what: string, read: () => Promise<T>, fallback: T): Promise<T> => {
      try {
        return await read();
      } catch (err) {
        problems.push(`${what}: ${errorMessage(err)}`);
        return fallback;
      }
    };
    const runs = (name: string) => async () => must(await api<{ runs: RunView[] }>(c, 'GET', `/tasks?name=${name}&limit=10`)).runs;
    const [dashboard, nodes, history, services, alerts, bulk, exports, recentIncidents] = await Promise.all([
      part('dashboard', async () => must(await api<OperationsData['dashboard']>(c, 'GET', '/dashboard')), null),
      part(
        'nodes',
        () =>
          db
            .select({
              uuid: nodeHealthTable.nodeUuid,
              name: nodeHealthTable.name,
              status: nodeHealthTable.status,
              since: nodeHealthTable.since,
              checkedAt: nodeHealthTable.checkedAt,
              escalated: nodeHealthTable.escalated,
            })
            .from(nodeHealthTable)
            .orderBy(nodeHealthTable.name)
            .limit(200),
        [],
      ),
      part('node history', () => recentNodeEvents(db, 30), []),
      part('services', () => db.select().from(serviceHealthTable).orderBy(serviceHealthTable.service), []),
      part('anomalies', () => db.select().from(anomaliesTable).orderBy(desc(anomaliesTable.changedAt)).limit(20), []),
      part('bulk jobs', runs('bulk_user_operation'), []),
      part('exports', runs('export_data'), []),
      part('incidents', async (): Promise<OperationsData['incidents']> => [...(await incidents(c.env).recent(20))], []),
    ]);
    const on = capabilities(c.var.config);
    const off = Object.entries(capabilityTable)
      .filter(([name]) => !on[name as Capability])
      .map(([capability, t]) => ({ capability, variable: t.variable, what: t.what }));
    return { dashboard, nodes, history, services, alerts, bulk, exports, incidents: recentIncidents, problems, off };
  }
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

/** The fixed notice named by `?done=`, if it names one. */
function noticeOf(c: C): string | undefined {
  const key = c.req.query('done') ?? '';
  return Object.hasOwn(notices, key) ? notices[key] : undefined;
}

/**
 * The sign-in form with its double-submit token (cookie + hidden field, 10 minutes): the one the
 * browser holds when given, else a fresh one.
 */
function signInForm(c: C, error?: string, status: 200 | 400 | 401 | 403 | 429 = 200, keep?: string) {
  const csrf = keep ?? randomToken();
  setCookie(c, LOGIN_COOKIE, csrf, { ...cookieBase, path: '/admin/login', maxAge: 600 });
  return c.html(<LoginPage csrf={csrf} error={error} />, status);
}

function asset(c: C, body: string, type: string): Response {
  return c.body(body, 200, { 'content-type': type, 'cache-control': 'public, max-age=300' });
}

function executionCtx(c: C): ExecutionContext | undefined {
  try {
    return c.executionCtx as ExecutionContext;
  } catch {
    return undefined;
  }
}
