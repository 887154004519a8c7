import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { desc, sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { dashboard } from '../../durable-objects/dashboard/dashboard.do';
import { incidents } from '../../durable-objects/incidents/incidents.do';
import { campaignsTable } from '../campaigns/campaigns.schema';
import worker from '../index';
import { nodeHealthTable, serviceHealthTable } from '../monitoring/monitoring.schema';
import { anomaliesTable } from '../reports/reports.schema';
import { type AttemptRecord, taskRunsTable } from '../tasks/tasks.schema';
import { Browser } from '../testing/browser';
import { uniqueTelegramId, withTestDb } from '../testing/db';
import { callApi, json } from '../testing/http';
import { poll } from '../testing/poll';
import { configureTelegram, deliveries } from '../testing/telegram';

/** What a console page shows, read through the session. */
async function page(browser: Browser, path: string): Promise<string> {
  const res = await browser.fetch(path);
  expect(res.status, path).toBe(200);
  return res.text();
}

/** The id a console redirect names (`/admin/campaigns/<id>?done=...`). */
function campaignIdOf(res: Response): string {
  const id = /\/admin\/campaigns\/([0-9a-f-]{36})\?done=/.exec(res.headers.get('location') ?? '')?.[1];
  if (!id) throw new Error(`no campaign in the redirect: ${res.status} ${res.headers.get('location')}`);
  return id;
}

/** Submits the new-campaign form with `fields` (and the CSRF token); returns the campaign it created. */
async function createCampaign(browser: Browser, csrf: string, fields: Record<string, string>): Promise<string> {
  const created = await browser.fetch('/admin/campaigns', { form: { _csrf: csrf, ...fields } });
  expect(created.status).toBe(303);
  return campaignIdOf(created);
}

/** One row of a table, by its `data-campaign` or `data-run` id. */
function row(html: string, attr: 'data-campaign' | 'data-run', id: string): string {
  const found = new RegExp(`<tr ${attr}="${id}"[^>]*>[\\s\\S]*?</tr>`).exec(html)?.[0];
  if (!found) throw new Error(`no row ${id} on the page`);
  return found;
}

const idsOf = (html: string, attr: 'data-campaign' | 'data-run') =>
  [...html.matchAll(new RegExp(`<tr ${attr}="([0-9a-f-]{36})"`, 'g'))].map((m) => m[1]);

/** `when` of the views: what the console shows of a moment (UTC, to the second). */
const shown = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');

describe('console pages', () => {
  describe('campaigns', () => {
    it('lists 20 campaigns a page, newest first, and links to the older ones', async () => {
      const browser = new Browser();
      await browser.signIn();
      for (let i = 0; i < 21; i++) {
        const res = await callApi('/campaigns', {
          body: { title: `Paged ${i}`, messages: [{ language_code: null, text: 'x' }], audience: { language_codes: ['zz-paged'] } },
        });
        expect(res.status).toBe(201);
      }
      // The file's database is its own and this test comes first: these are all its campaigns.
      const all = (
        await withTestDb((db) => db.select({ id: campaignsTable.id }).from(campaignsTable).orderBy(desc(campaignsTable.id)))
      ).map((r) => r.id);
      expect(all).toHaveLength(21);
      const first = await page(browser, '/admin/campaigns');
      expect(idsOf(first, 'data-campaign')).toEqual(all.slice(0, 20));
      expect(first).toContain(`<td><a href="/admin/campaigns/${all[0]}">Paged 20</a></td>`);
      const older = /<a href="([^"]+)">Older campaigns →<\/a>/.exec(first)?.[1];
      expect(older).toBe(`/admin/campaigns?cursor=${all[19]}`);
      const second = await page(browser, older as string);
      expect(idsOf(second, 'data-campaign')).toEqual(all.slice(20));
      expect(second).toContain(`<td><a href="/admin/campaigns/${all[20]}">Paged 0</a></td>`);
      expect(second).not.toContain('Older campaigns →');
    });

    it('creates a paid campaign for everyone scheduled in UTC, follows it live in the list, and cancels it', async () => {
      const browser = new Browser();
      const csrf = await browser.signIn();
      const id = await createCampaign(browser, csrf, {
        title: 'Scheduled for everyone',
        kind: 'text',
        text: 'Happy new year',
        rate_per_second: '5',
        paid_broadcast: 'on',
        scheduled_at: '2099-01-01T09:30',
      });
      const stored = await json<{ audience: unknown; paid_broadcast: boolean; scheduled_at: string }>(await callApi(`/campaigns/${id}`));
      // The form's minute is read as UTC, as its label says.
      expect(stored).toMatchObject({ audience: {}, paid_broadcast: true, scheduled_at: '2099-01-01T09:30:00.000Z' });

      const draft = await page(browser, `/admin/campaigns/${id}`);
      expect(draft).toContain('<dt>audience</dt><dd>everyone</dd>');
      expect(draft).toContain('<dt>rate</dt><dd>5/s paid</dd>');

      const started = await browser.fetch(`/admin/campaigns/${id}/start`, { form: { _csrf: csrf } });
      expect(started.headers.get('location')).toBe(`/admin/campaigns/${id}?done=start`);
      const scheduled = await page(browser, `/admin/campaigns/${id}?done=start`);
      expect(scheduled).toContain('<p class="notice" role="status">Started.</p>');
      expect(scheduled).toContain('<span class="badge" data-field="status">scheduled</span>');
      // Waiting for its time, it can be started now or cancelled, not paused or resumed.
      const hidden = (action: string) => new RegExp(`action="/admin/campaigns/${id}/${action}"[^>]*hidden`).test(scheduled);
      expect(['start', 'pause', 'resume', 'cancel'].map(hidden)).toEqual([false, true, true, false]);

      const listed = row(await page(browser, '/admin/campaigns'), 'data-campaign', id);
      expect(listed).toContain(`data-status="scheduled" data-events="/admin/campaigns/${id}/events"`);
      expect(listed).toContain('<td>5/s (paid)</td>');

      const cancelled = await browser.fetch(`/admin/campaigns/${id}/cancel`, { form: { _csrf: csrf } });
      expect(cancelled.headers.get('location')).toBe(`/admin/campaigns/${id}?done=cancel`);
      expect(await page(browser, `/admin/campaigns/${id}?done=cancel`)).toContain('<p class="notice" role="status">Cancelled.</p>');
      // Finished, its row no longer follows an event stream.
      const after = row(await page(browser, '/admin/campaigns'), 'data-campaign', id);
      expect(after).toMatch(new RegExp(`^<tr data-campaign="${id}" data-status="cancelled">`));
    });

    it('keeps the seconds of a schedule typed with them, and refuses one that is not a date and time', async () => {
      const browser = new Browser();
      const csrf = await browser.signIn();
      const form = { title: 'To the second', kind: 'text', text: 'Tick', audience_languages: 'zz-second' };
      const id = await createCampaign(browser, csrf, { ...form, scheduled_at: '2099-01-01T09:30:15' });
      expect((await json<{ scheduled_at: string }>(await callApi(`/campaigns/${id}`))).scheduled_at).toBe('2099-01-01T09:30:15.000Z');

      const before = await withTestDb((db) => db.select({ id: campaignsTable.id }).from(campaignsTable));
      const bad = await browser.fetch('/admin/campaigns', {
        form: { _csrf: csrf, ...form, title: 'Someday', scheduled_at: 'next monday' },
      });
      expect(bad.status).toBe(400);
      const html = await bad.text();
      expect(html).toContain('<p class="error" role="alert">scheduled_at: must be a date and time</p>');
      expect(html).toContain('name="scheduled_at" value="next monday"'); // what was typed is kept
      expect(await withTestDb((db) => db.select({ id: campaignsTable.id }).from(campaignsTable))).toHaveLength(before.length);
    });

    it('shows a campaign with nobody to send to as complete at once', async () => {
      const browser = new Browser();
      const csrf = await browser.signIn();
      const id = await createCampaign(browser, csrf, { title: 'Nobody', kind: 'text', text: 'Anyone?', audience_languages: 'zz-nobody' });
      expect((await browser.fetch(`/admin/campaigns/${id}/start`, { form: { _csrf: csrf } })).status).toBe(303);
      const listed = await poll(
        async () => {
          const r = row(await page(browser, '/admin/campaigns'), 'data-campaign', id);
          return r.includes('data-status="completed"') ? r : undefined;
        },
        { what: 'the empty campaign to complete' },
      );
      const full = '<progress data-field="progress" max="1" value="1"></progress><span data-field="percent">100%</span>';
      expect(listed).toContain(full);
      expect(listed).toContain('<span data-field="sent">0</span> / <span data-field="total">0</span>');
      const html = await page(browser, `/admin/campaigns/${id}`);
      expect(html).toContain(full);
      expect(html).toContain('<dt>audience</dt><dd>zz-nobody</dd>');
    });

    it('creates a campaign that copies a message and previews it as a copy', async () => {
      const browser = new Browser();
      const csrf = await browser.signIn();
      const id = await createCampaign(browser, csrf, {
        title: 'Forwarded post',
        kind: 'copy',
        copy_from_chat_id: '-1001234567890',
        copy_message_id: '77',
        audience_languages: 'zz-copy',
      });
      const chat = uniqueTelegramId();
      const preview = await browser.fetch(`/admin/campaigns/${id}/preview`, { form: { _csrf: csrf, chat_id: String(chat) } });
      expect(preview.headers.get('location')).toBe(`/admin/campaigns/${id}?done=preview`);
      const sent = await deliveries(chat);
      expect(sent.map((d) => [d.method, d.params.from_chat_id, d.params.message_id])).toEqual([['copyMessage', -1001234567890, 77]]);
    });

    it("previews the variant of the language asked for, and shows Telegram's refusal on the campaign's page", async () => {
      const browser = new Browser();
      const csrf = await browser.signIn();
      const id = await createCampaign(browser, csrf, {
        title: 'Two languages',
        kind: 'text',
        text: 'Good morning',
        variant_language_1: 'ru',
        variant_text_1: 'Доброе утро',
        audience_languages: 'zz-variants',
      });
      const chat = uniqueTelegramId();
      for (const language_code of [' ru ', '']) {
        const res = await browser.fetch(`/admin/campaigns/${id}/preview`, { form: { _csrf: csrf, chat_id: String(chat), language_code } });
        expect(res.status).toBe(303);
      }
      expect((await deliveries(chat)).map((d) => d.text)).toEqual(['Доброе утро', 'Good morning']);

      const missing = uniqueTelegramId();
      await configureTelegram({ missingChats: [missing] });
      const refused = await browser.fetch(`/admin/campaigns/${id}/preview`, { form: { _csrf: csrf, chat_id: String(missing) } });
      expect(refused.status).toBe(422);
      const html = await refused.text();
      expect(html).toContain('<p class="error" role="alert">Bad Request: chat not found</p>');
      expect(html).toContain(`<section class="campaign" data-campaign="${id}" data-status="draft"`);
      expect(await deliveries(missing)).toEqual([]);
    });
  });

  describe('tasks', () => {
    it("shows a run's error and each attempt's, and cuts a long result short", async () => {
      const browser = new Browser();
      await browser.signIn();
      const marker = crypto.randomUUID();
      const attempt = (n: number, extra: Partial<AttemptRecord> = {}): AttemptRecord => ({
        attempt: n,
        started_at: `2030-05-01T10:0${n}:00.000Z`,
        finished_at: `2030-05-01T10:0${n}:07.000Z`,
        ...extra,
      });
      const dead = crypto.randomUUID();
      const retried = crypto.randomUUID();
      const long = { text: 'y'.repeat(300) };
      await withTestDb((db) =>
        db.insert(taskRunsTable).values([
          {
            id: dead,
            name: 'echo',
            args: { marker },
            status: 'dead',
            attempts: 2,
            maxAttempts: 2,
            correlationId: 'test',
            error: 'connect ECONNREFUSED 10.0.0.1:5432',
            // An attempt recorded before failures carried their kind has none.
            history: [
              attempt(1, { error: 'connect ECONNREFUSED 10.0.0.1:5432', error_type: 'TypeError' }),
              attempt(2, { error: 'lease lost' }),
            ],
            expiresAt: sql`now() + interval '1 hour'`,
          },
          {
            id: retried,
            name: 'echo',
            args: long,
            status: 'succeeded',
            attempts: 2,
            maxAttempts: 3,
            correlationId: 'test',
            result: long,
            history: [attempt(1, { error: 'task timed out after 30 s', error_type: 'TaskTimeoutError' }), attempt(2)],
            expiresAt: sql`now() + interval '1 hour'`,
          },
        ]),
      );
      const html = await page(browser, '/admin/tasks?name=echo');

      const failed = row(html, 'data-run', dead);
      expect(failed).toContain('<span class="error-text">connect ECONNREFUSED 10.0.0.1:5432</span>');
      expect(failed).toContain('<summary>2 attempt(s)</summary>');
      expect(failed).toContain('<li>10:01:00–10:01:07 TypeError: connect ECONNREFUSED 10.0.0.1:5432</li>');
      expect(failed).toContain('<li>10:02:00–10:02:07 Error: lease lost</li>');
      expect(failed).toContain(`action="/admin/tasks/${dead}/rekick"`);

      const done = row(html, 'data-run', retried);
      const text = JSON.stringify(long);
      const code = /<code>([^<]*)<\/code>/.exec(done)?.[1] as string;
      expect(code).toBe(`${text.slice(0, 157).replaceAll('"', '&quot;')}…`);
      expect(done).toContain('<li>10:01:00–10:01:07 TaskTimeoutError: task timed out after 30 s</li>');
      expect(done).toContain('<li>10:02:00–10:02:07 ok</li>');
      expect(done).not.toContain('rekick');
    });

    it('pages runs 50 at a time, keeping the filter on the link to the older ones', async () => {
      const browser = new Browser();
      await browser.signIn();
      const ids = Array.from({ length: 51 }, () => crypto.randomUUID());
      await withTestDb((db) =>
        db.insert(taskRunsTable).values(
          ids.map((id) => ({
            id,
            name: 'ping_db',
            args: {},
            status: 'succeeded' as const,
            attempts: 1,
            maxAttempts: 3,
            correlationId: 'test',
            expiresAt: sql`now() + interval '1 hour'`,
          })),
        ),
      );
      const newest = [...ids].sort().reverse(); // the list is newest first by id
      const first = await page(browser, '/admin/tasks?name=ping_db&status=succeeded');
      expect(idsOf(first, 'data-run')).toEqual(newest.slice(0, 50));
      const link = /<a href="([^"]+)">Older runs →<\/a>/.exec(first)?.[1] as string;
      expect(link).toBe(`/admin/tasks?name=ping_db&amp;status=succeeded&amp;cursor=${newest[49]}`);
      const second = await page(browser, link.replaceAll('&amp;', '&'));
      expect(idsOf(second, 'data-run')).toEqual(newest.slice(50));
      expect(second).toContain('<option value="succeeded" selected="">succeeded</option>');
      expect(second).not.toContain('Older runs →');
    });
  });

  describe('operations', () => {
    it('shows what is healthy or over as such: a node online, services up, a resolved alert and incident', async () => {
      const browser = new Browser();
      await browser.signIn();
      const tag = crypto.randomUUID().slice(0, 8);
      const node = crypto.randomUUID();
      await withTestDb(async (db) => {
        await db.insert(nodeHealthTable).values({ nodeUuid: node, name: `node-${tag}`, status: 'online' });
        await db.insert(serviceHealthTable).values([
          { service: `up-${tag}` },
          // One failure is not an outage yet: the service still reads up, with its failure.
          { service: `flaky-${tag}`, failures: 1, lastError: 'HTTP 502' },
        ]);
        await db.insert(anomaliesTable).values({ kind: `kind-${tag}`, active: false, value: 0.05 });
      });
      // Nothing has failed in this file's world yet: the page says so.
      expect(await page(browser, '/admin/operations')).toContain(
        '<h2>Incidents</h2><ul class="plain" data-incidents="true"><li>No critical failure in the last day.</li></ul>',
      );
      const key = `outage:svc-${tag}`;
      const opened = Date.now() - 30 * 60_000;
      const resolved = Date.now() - 10 * 60_000;
      await incidents(env).report(key, opened, 'warning');
      expect(await incidents(env).resolve(key, resolved)).toMatchObject({ key, resolvedAt: resolved });

      const html = await page(browser, '/admin/operations');
      expect(html).toContain(`<td>node-${tag}</td><td><span class="badge online">online</span></td>`);
      expect(html).toContain(`<span class="badge online">up</span> up-${tag} <small>since `);
      expect(html).toContain(`<span class="badge online">up</span> flaky-${tag} — 1 failure(s) in a row: HTTP 502 <small>`);
      expect(html).toContain(`<span class="badge online">resolved</span> kind-${tag} = 0.05 <small>`);
      // An outage is keyed by its service alone: no error type follows it.
      const incident = new RegExp(
        `<li><span class="badge offline">1×</span> <b>WARNING</b> ${key}<b></b>  <small>([^<]*)</small></li>`,
      ).exec(html);
      expect(incident?.[1]).toBe(`first ${shown(opened)}, last ${shown(opened)}, resolved ${shown(resolved)}`);
      expect(html).not.toContain('No critical failure in the last day.');
    });

    it('follows bulk jobs and exports to their end: the share done, the download link, or the error', async () => {
      const browser = new Browser();
      await browser.signIn();
      const base = 700_000 + Math.floor(Math.random() * 1000) * 100;
      const users = [base + 1, base + 2, base + 3].map((id) => ({
        id,
        username: `console_${id}`,
        status: 'ACTIVE',
        expireAt: new Date(Date.now() + 30 * 86_400_000).toISOString(),
      }));
      const seeded = await fetch(`${env.REMNAWAVE_URL}/__control/users`, { method: 'POST', body: JSON.stringify({ users }) });
      expect(seeded.ok).toBe(true);
      const { job_id } = await json<{ job_id: string }>(
        await callApi('/bulk/users', { body: { operation: 'disable', user_ids: [...users.map((u) => u.id), base + 99] } }),
      );
      const { export_id } = await json<{ export_id: string }>(
        await callApi('/exports', { body: { type: 'audit', from: '2020-01-01T00:00:00Z', to: '2020-01-02T00:00:00Z' } }),
      );
      const failedExport = crypto.randomUUID();
      await withTestDb((db) =>
        db.insert(taskRunsTable).values({
          id: failedExport,
          name: 'export_data',
          args: {},
          status: 'dead',
          attempts: 3,
          maxAttempts: 3,
          correlationId: 'test',
          error: 'R2 put failed: 503',
          expiresAt: sql`now() + interval '1 hour'`,
        }),
      );
      const job = await poll(
        async () => {
          const j = await json<{ status: string; processed: number; failed: number }>(await callApi(`/bulk/${job_id}`));
          return j.status === 'completed' ? j : undefined;
        },
        { what: 'the bulk job' },
      );
      expect(job).toMatchObject({ processed: 3, failed: 1 });
      const exported = await poll(
        async () => {
          const e = await json<{ status: string; url: string | null }>(await callApi(`/exports/${export_id}`));
          return e.status === 'completed' ? e : undefined;
        },
        { what: 'the export' },
      );

      const html = await page(browser, '/admin/operations');
      const bulk = row(html, 'data-run', job_id);
      // Finished: no event stream to follow, the whole of it done.
      expect(bulk).toMatch(new RegExp(`^<tr data-run="${job_id}"><td>`));
      expect(bulk).toContain('<span class="badge succeeded" data-field="status">succeeded</span>');
      expect(bulk).toContain('<progress data-field="progress" max="4" value="4"></progress> <span data-field="percent">100%</span>');
      const download = row(html, 'data-run', export_id);
      expect(download).toContain(`<a href="${(exported.url as string).replaceAll('&', '&amp;')}">download</a>`);
      const failed = row(html, 'data-run', failedExport);
      expect(failed).toContain('<span class="error-text">R2 put failed: 503</span>');
      expect(failed).not.toContain('download');
    });

    it('names each part it could not read, claims nothing about it, and still shows the others', async () => {
      const browser = new Browser();
      await browser.signIn();
      const node = `still-shown-${crypto.randomUUID().slice(0, 8)}`;
      await withTestDb((db) => db.insert(nodeHealthTable).values({ nodeUuid: crypto.randomUUID(), name: node, status: 'warning' }));
      /** The operations page of a Worker whose `binding` object fails every call, as an overloaded Durable Object does. */
      const operationsWithout = async (binding: 'DASHBOARD' | 'INCIDENTS') => {
        const overloaded = new Error('Durable Object is overloaded. Too many requests queued.');
        const failing = {
          idFromName: (name: string) => env[binding].idFromName(name),
          get: () => new Proxy({}, { get: () => () => Promise.reject(overloaded) }),
        };
        const ctx = createExecutionContext();
        const res = await worker.fetch(
          new Request('https://flarecast.test/admin/operations', {
            headers: {
              cookie: [...browser.cookies].map(([k, v]) => `${k}=${v}`).join('; '),
              accept: 'text/html',
              'cf-connecting-ip': browser.ip,
            },
          }),
          { ...env, [binding]: failing },
          ctx,
        );
        await waitOnExecutionContext(ctx);
        expect(res.status).toBe(200);
        const html = await res.text();
        expect(html).toContain(`<td>${node}</td><td><span class="badge warning">warning</span></td>`);
        return html;
      };

      // The API answers the dashboard's failure with its 500, which says nothing more.
      const noDashboard = await operationsWithout('DASHBOARD');
      expect(noDashboard).toContain('<h1>Operations</h1><p class="error">Could not read: dashboard: internal error</p>');
      expect(noDashboard).not.toContain('data-events="/admin/dashboard/events"');

      const noIncidents = await operationsWithout('INCIDENTS');
      expect(noIncidents).toContain(
        '<h1>Operations</h1><p class="error">Could not read: incidents: Durable Object is overloaded. Too many requests queued.</p>',
      );
      // Unread is not "none": the page must not say the day was free of critical failures.
      expect(noIncidents).toContain('<h2>Incidents</h2><ul class="plain" data-incidents="true"></ul>');
      expect(noIncidents).not.toContain('No critical failure in the last day.');
    });

    // Last: the outage opens this isolate's breaker for the panel.
    it('says when the dashboard snapshot is incomplete, with what it could not read', async () => {
      const browser = new Browser();
      await browser.signIn();
      const panel = (patch: object) => fetch(`${env.REMNAWAVE_URL}/__control/config`, { method: 'POST', body: JSON.stringify(patch) });
      await panel({ down: true });
      try {
        const snapshot = await dashboard(env).refresh();
        expect(snapshot.errors).toHaveLength(1);
        expect(snapshot.errors?.[0]).toMatch(/^panel: /);
        const html = await page(browser, '/admin/operations');
        const escaped = (snapshot.errors ?? []).join('; ').replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
        expect(html).toContain(`<p class="error">Snapshot incomplete: ${escaped}</p>`);
        // The rest of the snapshot still shows: no server could be counted.
        expect(html).toContain('<span data-field="active_servers">0</span> / <span data-field="servers">0</span>');
      } finally {
        await panel({ down: false });
      }
    });
  });
});
