import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { eq, inArray, sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { incidents } from '../../durable-objects/incidents/incidents.do';
import { createApp } from '../app';
import { campaignsTable } from '../campaigns/campaigns.schema';
import worker from '../index';
import { nodeHealthHistoryTable, nodeHealthTable, serviceHealthTable } from '../monitoring/monitoring.schema';
import { taskRegistry } from '../registry';
import { anomaliesTable } from '../reports/reports.schema';
import { Browser } from '../testing/browser';
import { uniqueTelegramId, withTestDb } from '../testing/db';
import { call, callApi, json } from '../testing/http';
import { poll } from '../testing/poll';
import { insertRun, runWithStatus } from '../testing/runs';
import { deliveries } from '../testing/telegram';
import { usersTable } from '../users/users.schema';
import { SESSION_COOKIE } from './console.kit';
import { publicConsoleRoutes } from './console.routes';
import { consoleSessionsTable } from './console.schema';
import { openSession } from './sessions';

// Every route the console serves, read from the app's router so a new page cannot be missed.
const consoleRoutes = createApp({ registry: taskRegistry })
  .routes.filter((r) => (r.path === '/admin' || r.path.startsWith('/admin/')) && r.method !== 'ALL')
  .map((r) => ({
    method: r.method,
    route: `${r.method} ${r.path}`,
    // `:id{[0-9a-f-]{36}}`: the pattern holds braces of its own.
    path: r.path
      .replace(/:([a-z_]+)\{(?:[^{}]|\{[^}]*\})*\}/g, (_, name: string) => (name === 'action' ? 'start' : crypto.randomUUID()))
      .replace(/:[a-z_]+/g, 'x'),
  }));

async function campaignsTitled(title: string) {
  return withTestDb((db) => db.select().from(campaignsTable).where(eq(campaignsTable.title, title)));
}

describe('web console', () => {
  it('has pages to check, and only the sign-in form and static files are public', () => {
    expect(consoleRoutes.length).toBeGreaterThanOrEqual(12);
    const statics = consoleRoutes.filter((r) => r.path.startsWith('/admin/static/')).map((r) => r.route);
    expect(statics.length).toBeGreaterThanOrEqual(3);
    expect([...publicConsoleRoutes].sort()).toEqual(['GET /admin/login', 'POST /admin/login', ...statics].sort());
  });

  it('refuses every non-public route without a valid session: pages go to the sign-in form, the rest is 401', async () => {
    const stranger = new Browser();
    stranger.cookies.set(SESSION_COOKIE, 'forged-session-token');
    const checked: string[] = [];
    for (const { method, path, route } of consoleRoutes) {
      if (publicConsoleRoutes.includes(route)) continue;
      for (const browser of [new Browser(), stranger]) {
        const res = await browser.fetch(path, { method, form: method === 'POST' ? { _csrf: 'x' } : undefined });
        if (method === 'GET') {
          expect(res.status, route).toBe(303);
          expect(res.headers.get('location'), route).toBe('/admin/login');
        } else {
          expect(res.status, route).toBe(401);
        }
        const api = await browser.fetch(path, { method, accept: 'application/json' });
        expect(api.status, route).toBe(401);
      }
      checked.push(route);
    }
    expect(checked.length).toBe(consoleRoutes.length - publicConsoleRoutes.length);
  });

  it('walks real routes: signed in, every walked path reaches its handler (no "no route" 404)', async () => {
    const browser = new Browser();
    const csrf = await browser.signIn();
    for (const { method, path, route } of consoleRoutes) {
      if (route === 'POST /admin/logout') continue; // it would end this session
      expect(path, route).not.toMatch(/[{}]/);
      const res = await browser.fetch(path, { method, form: method === 'POST' ? { _csrf: csrf } : undefined });
      // A live stream (the dashboard's) never ends: reaching its handler is the answer.
      if (res.headers.get('content-type')?.includes('text/event-stream')) {
        await res.body?.cancel();
        continue;
      }
      const body = await res.text();
      expect(body, route).not.toContain('no route for');
    }
  });

  it('signs in with the admin token into a Secure, HttpOnly, SameSite=Strict session, behind a strict CSP', async () => {
    const browser = new Browser();
    const login = await browser.fetch('/admin/login');
    expect(login.status).toBe(200);
    const csp = login.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(login.headers.get('x-frame-options')).toBe('SAMEORIGIN');
    const csrf = Browser.csrf(await login.text());

    // No CSRF token, a wrong one, a wrong admin token: refused, no session. A refused token gets the
    // form again with a fresh one (the sign-in page may just have been left open too long).
    const noToken = await browser.fetch('/admin/login', { form: { token: env.ADMIN_API_TOKEN } });
    expect(noToken.status).toBe(403);
    expect(await noToken.text()).toContain('The sign-in form expired');
    expect((await browser.fetch('/admin/login', { form: { _csrf: `${csrf}x`, token: env.ADMIN_API_TOKEN } })).status).toBe(403);
    expect(browser.cookies.has(SESSION_COOKIE)).toBe(false);
    const csrf2 = Browser.csrf(await (await browser.fetch('/admin/login')).text());
    const wrong = await browser.fetch('/admin/login', { form: { _csrf: csrf2, token: 'not-the-admin-token' } });
    expect(wrong.status).toBe(401);
    expect(await wrong.text()).toContain('Wrong token');
    expect(browser.cookies.has(SESSION_COOKIE)).toBe(false);

    const ok = await browser.fetch('/admin/login', { form: { _csrf: csrf2, token: env.ADMIN_API_TOKEN } });
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toBe('/admin/campaigns');
    const cookie = ok.headers.getSetCookie().find((c) => c.startsWith(`${SESSION_COOKIE}=`)) ?? '';
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/Secure/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).toMatch(/Path=\/admin/);
    // The admin token never reaches the browser, and the cookie is not the stored value.
    const page = await (await browser.fetch('/admin/campaigns')).text();
    expect(page).not.toContain(env.ADMIN_API_TOKEN);
    const token = browser.cookies.get(SESSION_COOKIE) as string;
    const stored = await withTestDb((db) => db.select().from(consoleSessionsTable));
    expect(stored.some((s) => s.tokenHash === token)).toBe(false);
  });

  it('answers 429 to the 11th sign-in attempt within a minute from one address, not to another address', async () => {
    const attacker = new Browser();
    const csrf = Browser.csrf(await (await attacker.fetch('/admin/login')).text());
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++)
      statuses.push((await attacker.fetch('/admin/login', { form: { _csrf: csrf, token: `guess-${i}` } })).status);
    expect(statuses.slice(0, 10)).toEqual(Array(10).fill(401));
    expect(statuses[10]).toBe(429);
    // Even the right token waits out the minute from that address; another address signs in.
    expect((await attacker.fetch('/admin/login', { form: { _csrf: csrf, token: env.ADMIN_API_TOKEN } })).status).toBe(429);
    expect(attacker.cookies.has(SESSION_COOKIE)).toBe(false);
    await new Browser().signIn();
  });

  it('counts an IPv6 client by its /64: rotating addresses inside it does not reset the limit', async () => {
    const attacker = new Browser();
    const prefix = attacker.ip.replace(/::1$/, '');
    const csrf = Browser.csrf(await (await attacker.fetch('/admin/login')).text());
    const statuses: number[] = [];
    for (let i = 1; i <= 11; i++) {
      attacker.ip = `${prefix}:${i.toString(16)}:ffff:0:${i}`;
      statuses.push((await attacker.fetch('/admin/login', { form: { _csrf: csrf, token: `guess-${i}` } })).status);
    }
    expect(statuses).toEqual([...Array(10).fill(401), 429]);
    // The same address written another way (expanded, upper case) is the same network.
    attacker.ip = `${prefix.toUpperCase().replace('2001:DB8:', '2001:0DB8:')}:0:0:0:2`;
    expect((await attacker.fetch('/admin/login', { form: { _csrf: csrf, token: env.ADMIN_API_TOKEN } })).status).toBe(429);
    // The next /64 over is another client.
    const neighbour = new Browser();
    neighbour.ip = `${prefix.replace(/:([0-9a-f]+)$/, (_, last: string) => `:${((Number.parseInt(last, 16) + 1) % 0x10000).toString(16)}`)}::1`;
    await neighbour.signIn();
  });

  it('refuses a sign-in that carries no client address instead of sharing one bucket among all such', async () => {
    const browser = new Browser();
    const csrf = Browser.csrf(await (await browser.fetch('/admin/login')).text());
    for (const ip of ['', 'unknown', '999.1.1.1']) {
      browser.ip = ip;
      expect((await browser.fetch('/admin/login', { form: { _csrf: csrf, token: env.ADMIN_API_TOKEN } })).status).toBe(400);
    }
    expect(browser.cookies.has(SESSION_COOKIE)).toBe(false);
  });

  it('holds all clients together to a ceiling, so guesses spread over many networks are limited too', async () => {
    // The app with a ceiling of 3 sign-ins a minute (the deployed one allows 100).
    const app = createApp({ registry: taskRegistry });
    const ceilingEnv = { ...env, SIGN_IN_GLOBAL_LIMITER: env.TEST_SIGN_IN_CEILING };
    const attempt = async (browser: Browser) => {
      const csrf = Browser.csrf(await (await browser.fetch('/admin/login')).text());
      const headers = new Headers({ 'cf-connecting-ip': browser.ip, cookie: `flarecast_login=${browser.cookies.get('flarecast_login')}` });
      const body = new URLSearchParams({ _csrf: csrf, token: 'guess' });
      return (await app.request('/admin/login', { method: 'POST', headers, body }, ceilingEnv)).status;
    };
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push(await attempt(new Browser()));
    expect(statuses).toEqual([401, 401, 401, 429]);
  });

  it('creates a campaign from the form only with the CSRF token, and names a bad field', async () => {
    const browser = new Browser();
    const csrf = await browser.signIn();
    const title = `Console ${crypto.randomUUID().slice(0, 8)}`;
    const form = {
      title,
      kind: 'text',
      text: 'Hello from the console',
      parse_mode: '',
      variant_language_1: 'ru',
      variant_text_1: 'Привет из консоли',
      audience_languages: 'zz-console',
      rate_per_second: '7',
    };
    expect((await browser.fetch('/admin/campaigns', { form })).status).toBe(403);
    expect((await browser.fetch('/admin/campaigns', { form: { ...form, _csrf: 'forged' } })).status).toBe(403);
    // A JSON or plain-text body carries no form token: refused as well.
    for (const type of ['application/json', 'text/plain']) {
      const res = await call('/admin/campaigns', {
        method: 'POST',
        headers: {
          'content-type': type,
          cookie: `${SESSION_COOKIE}=${browser.cookies.get(SESSION_COOKIE)}`,
          'cf-connecting-ip': browser.ip,
        },
        body: type === 'application/json' ? JSON.stringify({ ...form, _csrf: 'x' }) : `_csrf=${csrf}`,
      });
      expect(res.status, type).toBe(403);
    }
    // Another session's token is not this one's.
    const other = await new Browser().signIn();
    expect((await browser.fetch('/admin/campaigns', { form: { ...form, _csrf: other } })).status).toBe(403);
    expect(await campaignsTitled(title)).toHaveLength(0);

    const bad = await browser.fetch('/admin/campaigns', { form: { ...form, _csrf: csrf, rate_per_second: 'fast' } });
    expect(bad.status).toBe(400);
    const badPage = await bad.text();
    expect(badPage).toContain('rate_per_second: must be a whole number');
    expect(badPage).toContain('Привет из консоли'); // what was typed is kept
    const tooLong = await browser.fetch('/admin/campaigns', { form: { ...form, _csrf: csrf, text: 'x'.repeat(5000) } });
    expect(tooLong.status).toBe(400);
    expect(await tooLong.text()).toContain('messages.0');

    const created = await browser.fetch('/admin/campaigns', { form: { ...form, _csrf: csrf } });
    expect(created.status).toBe(303);
    const id = /\/admin\/campaigns\/([0-9a-f-]{36})\?done=created/.exec(created.headers.get('location') ?? '')?.[1] as string;
    const campaign = await json<{ title: string; status: string; rate_per_second: number; audience: unknown }>(
      await callApi(`/campaigns/${id}`),
    );
    expect(campaign).toMatchObject({ title, status: 'draft', rate_per_second: 7, audience: { language_codes: ['zz-console'] } });

    const page = await browser.fetch(`/admin/campaigns/${id}?done=created`);
    const html = await page.text();
    expect(html).toContain('Draft created');
    // A draft offers start and cancel; pause and resume are there for the live script, hidden.
    const hidden = (action: string) => new RegExp(`action="/admin/campaigns/${id}/${action}"[^>]*hidden`).test(html);
    expect(['start', 'pause', 'resume', 'cancel'].map(hidden)).toEqual([false, true, true, false]);
    expect(html).toContain(`data-events="/admin/campaigns/${id}/events"`);
    // Only the four actions, spelled exactly, are routes.
    const lookalike = await browser.fetch(`/admin/campaigns/${id}/xcancel`, { form: { _csrf: csrf } });
    expect(lookalike.status).toBe(404);
    expect((await json<{ status: string }>(await callApi(`/campaigns/${id}`))).status).toBe('draft');
    // An impossible transition is the API's 409, shown on the page.
    const resume = await browser.fetch(`/admin/campaigns/${id}/resume`, { form: { _csrf: csrf } });
    expect(resume.status).toBe(409);
    expect(await resume.text()).toContain('class="error"');
  });

  it('runs a campaign from its page and streams its progress to the session', async () => {
    const browser = new Browser();
    const csrf = await browser.signIn();
    const lang = `zz-${crypto.randomUUID().slice(0, 6)}`;
    const users = Array.from({ length: 6 }, () => uniqueTelegramId());
    await withTestDb((db) => db.insert(usersTable).values(users.map((id) => ({ telegramId: id, fullName: `C${id}`, languageCode: lang }))));
    const created = await browser.fetch('/admin/campaigns', {
      form: { _csrf: csrf, title: 'Streamed', kind: 'text', text: 'Console broadcast', audience_languages: lang, rate_per_second: '20' },
    });
    const id = /campaigns\/([0-9a-f-]{36})/.exec(created.headers.get('location') ?? '')?.[1] as string;

    const preview = await browser.fetch(`/admin/campaigns/${id}/preview`, { form: { _csrf: csrf, chat_id: String(users[0]) } });
    expect(preview.status).toBe(303);
    expect(preview.headers.get('location')).toContain('done=preview');

    expect((await browser.fetch(`/admin/campaigns/${id}/start`, { form: { _csrf: csrf } })).status).toBe(303);
    const events = await browser.fetch(`/admin/campaigns/${id}/events`, { accept: 'text/event-stream' });
    expect(events.status).toBe(200);
    expect(events.headers.get('content-type')).toContain('text/event-stream');
    const stream = await events.text(); // the stream ends after `done`
    expect(stream).toContain('event: progress');
    const done = JSON.parse(/event: done\ndata: (.*)\n/.exec(stream)?.[1] ?? '{}') as { status: string; sent: number; total: number };
    expect(done).toMatchObject({ status: 'completed', sent: 6, total: 6 });
    await poll(async () => ((await deliveries()).filter((d) => users.includes(d.chat_id)).length >= 7 ? true : undefined), {
      what: 'preview and broadcast delivered',
    });
  });

  it('lists task runs by name and status, and kicks a dead run again as a new run', async () => {
    const browser = new Browser();
    const csrf = await browser.signIn();
    const marker = crypto.randomUUID();
    const dead = await insertRun({ name: 'echo', args: { marker }, status: 'dead', attempts: 1, maxAttempts: 1 });
    const page = await (await browser.fetch('/admin/tasks?name=echo&status=dead')).text();
    expect(page).toContain(`data-run="${dead}"`);
    expect(page).toContain(`/admin/tasks/${dead}/rekick`);

    const bad = await browser.fetch('/admin/tasks?status=lost');
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('status');

    expect((await browser.fetch(`/admin/tasks/${dead}/rekick`, { form: {} })).status).toBe(403);
    const rekick = await browser.fetch(`/admin/tasks/${dead}/rekick`, { form: { _csrf: csrf } });
    expect(rekick.status).toBe(303);
    const again = await poll(
      async () =>
        withTestDb(async (db) => {
          const rows = await db.execute<{ id: string }>(
            sql`select id from task_runs where name = 'echo' and args->>'marker' = ${marker} and id <> ${dead}`,
          );
          return rows.rows[0]?.id;
        }),
      { what: 'the new run' },
    );
    const run = await runWithStatus(again, 'succeeded');
    expect(run.result).toEqual({ marker });
    // A second submit (double click, a second admin) kicks nothing more.
    expect((await browser.fetch(`/admin/tasks/${dead}/rekick`, { form: { _csrf: csrf } })).status).toBe(303);
    const copies = await withTestDb((db) =>
      db.execute<{ n: number }>(sql`select count(*)::int as n from task_runs where name = 'echo' and args->>'marker' = ${marker}`),
    );
    expect(copies.rows[0]?.n).toBe(2);
    // Only dead runs are kicked again: a refusal is a page, with the way back.
    const refused = await browser.fetch(`/admin/tasks/${again}/rekick`, { form: { _csrf: csrf } });
    expect(refused.status).toBe(409);
    expect(refused.headers.get('content-type')).toContain('text/html');
    const refusal = await refused.text();
    expect(refusal).toContain('Error 409');
    expect(refusal).toContain('only dead runs are kicked again');
    expect(refusal).toContain('href="/admin/campaigns"');
    // 36 characters the path takes that are no UUID: no such run (it reached Postgres and was a 500).
    expect((await browser.fetch(`/admin/tasks/${'-'.repeat(36)}/rekick`, { form: { _csrf: csrf } })).status).toBe(404);
  });

  it('says on the operations page which capabilities are switched off', async () => {
    const browser = new Browser();
    await browser.signIn();
    const cookie = [...browser.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    const ctx = createExecutionContext();
    const res = await worker.fetch(
      new Request('https://flarecast.test/admin/operations', { headers: { cookie, accept: 'text/html', 'cf-connecting-ip': browser.ip } }),
      { ...env, REMNAWAVE_URL: '', CRYPTOBOT_TOKEN: '' },
      ctx,
    );
    await waitOnExecutionContext(ctx);
    expect(res.status).toBe(200);
    const html = await res.text();
    const off = /<section data-off[^>]*>([\s\S]*?)<\/section>/.exec(html)?.[1] ?? '';
    expect([...off.matchAll(/<code>([A-Z_]+)<\/code>/g)].map((m) => m[1])).toEqual(['REMNAWAVE_URL', 'CRYPTOBOT_TOKEN']);
    expect(off).toContain('its jobs are skipped');
  });

  it('shows operations and the API reference of every /api route', async () => {
    const browser = new Browser();
    await browser.signIn();
    const tag = `console-visible-${crypto.randomUUID().slice(0, 8)}`;
    await incidents(env).report(`GET /x|TypeError|${tag}`);
    await incidents(env).report(`GET /x|TypeError|${tag}`);
    // A node escalated offline with its history (one change of a node since removed), a service down,
    // an active anomaly: what an operator comes to this page for.
    const node = crypto.randomUUID();
    const gone = crypto.randomUUID();
    await withTestDb(async (db) => {
      await db.insert(nodeHealthTable).values({ nodeUuid: node, name: `node-${tag}`, status: 'offline', escalated: true });
      await db.insert(nodeHealthHistoryTable).values([
        { nodeUuid: node, fromStatus: null, toStatus: 'online', source: 'poll' },
        { nodeUuid: node, fromStatus: 'online', toStatus: 'offline', source: 'webhook' },
        { nodeUuid: gone, fromStatus: 'online', toStatus: 'offline', source: 'poll' },
      ]);
      await db.insert(serviceHealthTable).values({ service: `svc-${tag}`, failures: 3, down: true, lastError: 'HTTP 503' });
      await db.insert(anomaliesTable).values({ kind: `kind-${tag}`, active: true, value: 0.25 });
    });
    try {
      const ops = await browser.fetch('/admin/operations');
      expect(ops.status).toBe(200);
      const html = await ops.text();
      for (const heading of ['Online users', 'Nodes', 'Services and alerts', 'Incidents', 'Bulk jobs', 'Exports'])
        expect(html).toContain(heading);
      expect(html).toMatch(new RegExp(`2×</span> <b>CRITICAL</b> GET /x: <b>TypeError</b> ${tag}`));
      // Everything is configured here: nothing is switched off.
      expect(html).not.toContain('data-off');
      expect(html).toContain(`node-${tag}</td><td><span class="badge offline">offline</span> CRITICAL`);
      expect(html).toContain(`node-${tag}: new → online (poll)`);
      expect(html).toContain(`node-${tag}: online → offline (webhook)`);
      expect(html).toContain('a removed node: online → offline (poll)');
      expect(html).toContain(`down</span> svc-${tag} — 3 failure(s) in a row: HTTP 503`);
      expect(html).toContain(`alert</span> kind-${tag} = 0.25`);
    } finally {
      await withTestDb(async (db) => {
        await db.delete(nodeHealthHistoryTable).where(inArray(nodeHealthHistoryTable.nodeUuid, [node, gone]));
        await db.delete(nodeHealthTable).where(eq(nodeHealthTable.nodeUuid, node));
        await db.delete(serviceHealthTable).where(eq(serviceHealthTable.service, `svc-${tag}`));
        await db.delete(anomaliesTable).where(eq(anomaliesTable.kind, `kind-${tag}`));
      });
    }

    // A running bulk job follows its event stream, through the session.
    const running = await insertRun({ name: 'bulk_user_operation', args: { operation: 'disable', user_ids: [] }, status: 'running' });
    expect(await (await browser.fetch('/admin/operations')).text()).toContain(`data-events="/admin/bulk/${running}/events"`);
    const { job_id } = await json<{ job_id: string }>(await callApi('/bulk/users', { body: { operation: 'enable', user_ids: [] } }));
    const stream = await browser.fetch(`/admin/bulk/${job_id}/events`, { accept: 'text/event-stream' });
    expect(stream.headers.get('content-type')).toContain('text/event-stream');
    expect(await stream.text()).toMatch(/event: done\ndata: .*"status":"completed"/);

    const reference = await (await browser.fetch('/admin/api')).text();
    const doc = await json<{ paths: Record<string, Record<string, unknown>> }>(await callApi('/openapi.json'));
    for (const [path, ops] of Object.entries(doc.paths))
      for (const method of Object.keys(ops)) expect(reference).toContain(`id="${method}-${path}"`);

    // The API's refusals stand: a bad cursor is 400, an unknown campaign 404.
    expect((await browser.fetch('/admin/campaigns?cursor=nope')).status).toBe(400);
    expect((await browser.fetch(`/admin/campaigns/${crypto.randomUUID()}`)).status).toBe(404);

    const script = await browser.fetch('/admin/static/console.js');
    expect(script.headers.get('content-type')).toContain('javascript');
    expect(await script.text()).toContain('EventSource');
  });

  it('ends a session on sign-out and after 12 hours; the hourly cleanup deletes expired ones', async () => {
    const browser = new Browser();
    const csrf = await browser.signIn();
    const token = browser.cookies.get(SESSION_COOKIE) as string;
    expect((await browser.fetch('/admin/logout', { form: { _csrf: csrf } })).status).toBe(303);
    browser.cookies.set(SESSION_COOKIE, token);
    expect((await browser.fetch('/admin/tasks')).headers.get('location')).toBe('/admin/login');

    const old = await withTestDb((db) => openSession(db, env.ADMIN_API_TOKEN, new Date(Date.now() - 13 * 3600_000)));
    const late = new Browser();
    late.cookies.set(SESSION_COOKIE, old.token);
    expect((await late.fetch('/admin/tasks')).status).toBe(303);
    // A session opened with an admin token since rotated is over too (a leaked token's sessions end with it).
    const rotated = await withTestDb((db) => openSession(db, 'the-admin-token-before-rotation'));
    const before = new Browser();
    before.cookies.set(SESSION_COOKIE, rotated.token);
    expect((await before.fetch('/admin/tasks')).headers.get('location')).toBe('/admin/login');
    const current = await withTestDb((db) => openSession(db, env.ADMIN_API_TOKEN));
    const now = new Browser();
    now.cookies.set(SESSION_COOKIE, current.token);
    expect((await now.fetch('/admin/tasks')).status).toBe(200);

    const kicked = await json<{ id: string }>(await callApi('/tasks', { body: { name: 'cleanup_console_sessions', args: {} } }));
    const run = await runWithStatus(kicked.id, 'succeeded');
    expect((run.result as { removed: number }).removed).toBeGreaterThanOrEqual(1);
    const left = await withTestDb((db) => db.select().from(consoleSessionsTable).where(sql`expires_at < now()`));
    expect(left).toHaveLength(0);
  });
});
