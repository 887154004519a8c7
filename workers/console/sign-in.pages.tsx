import { Hono } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { limitBody } from '../core/http';
import { secretsEqual } from '../core/secrets';
import { type C, type ConsoleEnv, cookieBase, SESSION_COOKIE } from './console.kit';
import { closeSession, openSession, randomToken, SESSION_TTL_SECONDS } from './sessions';
import { clientNetwork, signInAttempt } from './sign-in-limit';
import { LoginPage } from './views';

const LOGIN_COOKIE = 'flarecast_login';

/** The sign-in form: a CSRF token and the admin token, in bytes. Read by no one who is not signed in yet. */
export const SIGN_IN_FORM_MAX_BYTES = 8 * 1024;

/** `/admin/login` (the admin token, throttled per network and overall) and `/admin/logout`. */
export function signInPages() {
  return (
    new Hono<ConsoleEnv>()
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
  );
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
