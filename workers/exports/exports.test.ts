import { env } from 'cloudflare:workers';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { createApp } from '../app';
import { taskRegistry } from '../registry';
import { withTestDb } from '../testing/db';
import { call, callApi, json } from '../testing/http';
import { poll } from '../testing/poll';
import { kickOverHttp, runWithStatus } from '../testing/runs';
import { deliveries } from '../testing/telegram';
import { usersTable } from '../users/users.schema';
import { signedPath } from './signing';
import { csvField, PART_SIZE } from './writer';

interface ExportJson {
  export_id: string;
  status: string;
  rows: number;
  bytes: number | null;
  url: string | null;
}

const finished = (id: string, timeoutMs = 30_000) =>
  poll(
    async () => {
      const e = await json<ExportJson>(await callApi(`/exports/${id}`));
      return e.status === 'completed' ? e : undefined;
    },
    { what: 'the export', timeoutMs },
  );
const pathOf = (url: string) => {
  const u = new URL(url);
  return `${u.pathname}${u.search}`;
};

describe('exports', () => {
  it('streams 100,000 users to R2 in 5 MiB parts and serves them by a signed link', async () => {
    // A day of 100,000 users of their own.
    await withTestDb((db) =>
      db.execute(sql`insert into users (telegram_id, username, full_name, language_code, created_at)
        select 5000000000 + g, 'exp' || g, 'Export "User", ' || g, 'en', '2021-03-01T00:00:00Z'::timestamptz + g * interval '100 ms'
        from generate_series(1, 100000) g`),
    );
    const res = await callApi('/exports', {
      body: { type: 'users', from: '2021-03-01T00:00:00Z', to: '2021-03-02T00:00:00Z', format: 'csv' },
    });
    expect(res.status).toBe(202);
    const { export_id } = await json<{ export_id: string }>(res);
    const done = await finished(export_id, 60_000);
    expect(done.rows).toBe(100_000);
    const run = await runWithStatus(export_id, 'succeeded');
    const result = run.result as { parts: number; bytes: number; peak_buffered_bytes: number };
    // Streamed: several parts, and never more than one part in memory.
    expect(result.parts).toBe(Math.ceil(result.bytes / PART_SIZE));
    expect(result.parts).toBeGreaterThanOrEqual(2);
    expect(result.peak_buffered_bytes).toBeLessThanOrEqual(PART_SIZE);
    const file = await call(pathOf(done.url as string));
    expect(file.status).toBe(200);
    expect(file.headers.get('content-type')).toContain('text/csv');
    const lines = (await file.text()).trimEnd().split('\n');
    expect(lines).toHaveLength(100_001);
    expect(lines[0]).toBe('id,telegram_id,username,full_name,language_code,is_active,blocked_at,created_at');
    expect(lines[1]).toMatch(/^\d+,5000000001,exp1,"Export ""User"", 1",en,true,,2021-03-01T00:00:00\.1\+00:00$/);
  });

  it('refuses a tampered, expired or missing signature', async () => {
    const res = await callApi('/exports', {
      body: { type: 'audit', from: '2020-01-01T00:00:00Z', to: '2020-01-02T00:00:00Z', format: 'json' },
    });
    const done = await finished((await json<{ export_id: string }>(res)).export_id);
    const path = pathOf(done.url as string);
    expect(JSON.parse(await (await call(path)).text())).toEqual([]);
    const tampered = path.replace(/sig=([0-9a-f])/, (_m, c: string) => `sig=${c === '0' ? '1' : '0'}`);
    expect((await call(tampered)).status).toBe(403);
    const key = new URL(done.url as string).pathname.slice('/exports/'.length);
    const expired = await signedPath(env.ADMIN_API_TOKEN, `exports/${key}`, Date.now() - 2 * 86_400_000);
    const answer = await call(expired);
    expect(answer.status).toBe(403);
    expect(await answer.json()).toMatchObject({ message: 'link expired' });
    expect((await call(`/exports/${key}`)).status).toBe(403);
  });

  it('sends the admin who asked the link, which works for 24 hours; the file is deleted after 24 hours', async () => {
    const admin = Number(env.ADMIN_TELEGRAM_IDS.split(',')[1]);
    const before = (await deliveries(admin)).length;
    const res = await callApi('/exports', {
      body: { type: 'audit', from: '2020-01-01T00:00:00Z', to: '2020-01-02T00:00:00Z', format: 'csv', requested_by: admin },
    });
    const started = Date.now();
    const done = await finished((await json<{ export_id: string }>(res)).export_id);
    // Messages due together arrive as one digest: this export's is one paragraph of it.
    const message = await poll(async () => (await deliveries(admin)).slice(before).find((d) => d.text?.includes(done.url as string)));
    expect(message.text?.split('\n\n')).toContain(`📄 Export audit ready: 0 rows.\n${done.url}\nThe link works for 24 hours.`);
    const exp = Number(new URL(done.url as string).searchParams.get('exp'));
    expect(Math.abs(exp - Math.floor(started / 1000) - 24 * 3600)).toBeLessThanOrEqual(5);
    expect((await call(pathOf(done.url as string))).status).toBe(200);
    // A minute short of 24 hours the file stays; a minute past, it is gone and the link answers 404.
    const key = new URL(done.url as string).pathname.slice(1);
    const asOf = (ms: number) => new Date(started + ms).toISOString();
    await runWithStatus(await kickOverHttp('cleanup_exports', { as_of: asOf(24 * 3600_000 - 60_000) }), 'succeeded');
    expect(await env.EXPORTS.head(key)).not.toBeNull();
    await runWithStatus(await kickOverHttp('cleanup_exports', { as_of: asOf(24 * 3600_000 + 60_000) }), 'succeeded');
    expect(await env.EXPORTS.head(key)).toBeNull();
    expect((await call(pathOf(done.url as string))).status).toBe(404);
  });

  it('refuses a range that ends before it starts, naming the field; keeps fresh files', async () => {
    const bad = await callApi('/exports', { body: { type: 'users', from: '2021-03-02T00:00:00Z', to: '2021-03-01T00:00:00Z' } });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ field: 'to' });
    // The servers come from the panel: with it off, 503 now, not a run that fails and alerts an outage.
    const headers = { authorization: `Bearer ${env.ADMIN_API_TOKEN}`, 'content-type': 'application/json' };
    const body = JSON.stringify({ type: 'servers', from: '2021-03-01T00:00:00Z', to: '2021-03-02T00:00:00Z' });
    const off = await createApp({ registry: taskRegistry }).request(
      '/api/exports',
      { method: 'POST', headers, body },
      { ...env, REMNAWAVE_URL: '' },
    );
    expect(off.status).toBe(503);
    expect(await off.json()).toMatchObject({ error: 'panel_not_configured' });
    const cleanup = await runWithStatus(await kickOverHttp('cleanup_exports'), 'succeeded');
    expect(cleanup.result).toEqual({ removed: 0 });
  });

  it('exports the panel servers as JSON and payments as CSV', async () => {
    const node = { uuid: crypto.randomUUID(), name: 'export-node', isConnected: true, isDisabled: false, isConnecting: false };
    expect((await fetch(`${env.REMNAWAVE_URL}/__control/nodes`, { method: 'POST', body: JSON.stringify(node) })).ok).toBe(true);
    const servers = await callApi('/exports', {
      body: { type: 'servers', from: '2020-01-01T00:00:00Z', to: '2030-01-01T00:00:00Z', format: 'json' },
    });
    const s = await finished((await json<{ export_id: string }>(servers)).export_id);
    const nodes = JSON.parse(await (await call(pathOf(s.url as string))).text()) as { uuid: string; isConnected: boolean }[];
    expect(nodes.length).toBe(s.rows);
    expect(nodes.map((n) => n.uuid)).toContain(node.uuid);
    expect(Object.keys(nodes[0] ?? {})).toContain('isConnected');
    const payments = await callApi('/exports', {
      body: { type: 'payments', from: '2020-01-01T00:00:00Z', to: '2030-01-01T00:00:00Z', format: 'csv' },
    });
    const p = await finished((await json<{ export_id: string }>(payments)).export_id);
    const lines = (await (await call(pathOf(p.url as string))).text()).trimEnd().split('\n');
    expect(lines[0]).toBe('id,provider,invoice_id,telegram_id,remnawave_user_id,plan,days,amount,asset,status,created_at,completed_at');
    expect(lines).toHaveLength(p.rows + 1);
  });

  it('writes CSV fields safely', () => {
    expect(csvField(null)).toBe('');
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('=HYPERLINK("x")')).toBe(`"'=HYPERLINK(""x"")"`);
    expect(csvField({ a: 1 })).toBe('"{""a"":1}"');
    expect(csvField(new Date('2021-01-01T00:00:00Z'))).toBe('2021-01-01T00:00:00.000Z');
    // A negative number is a number, not a formula.
    expect(csvField(-4.99)).toBe('-4.99');
  });

  it("exports names a spreadsheet would run (OWASP's =, +, -, @, TAB, CR, and |) as text", async () => {
    const hostile = ['=1+1', '+1+1', '-1+1', '@SUM(A1)', '\t=1+1', '\r=1+1', '|calc', "=cmd|' /C calc'!A0"];
    const base = 6_100_000_000 + Math.floor(Math.random() * 1e6) * 10;
    await withTestDb((db) =>
      db.insert(usersTable).values(
        hostile.map((name, i) => ({
          telegramId: base + i,
          username: `h${base + i}`,
          fullName: name,
          createdAt: new Date(Date.UTC(2019, 6, 7, 0, i)),
        })),
      ),
    );
    const res = await callApi('/exports', {
      body: { type: 'users', from: '2019-07-07T00:00:00Z', to: '2019-07-08T00:00:00Z', format: 'csv' },
    });
    const done = await finished((await json<{ export_id: string }>(res)).export_id);
    const csv = await (await call(pathOf(done.url as string))).text();
    // id,telegram_id,username,full_name,...: the name cell starts with ' (inside quotes when quoted).
    for (const [i, name] of hostile.entries()) {
      const after = csv.slice(csv.indexOf(`,${base + i},h${base + i},`) + `,${base + i},h${base + i},`.length);
      expect(after.startsWith(`'${name}`) || after.startsWith(`"'${name.replaceAll('"', '""')}`), JSON.stringify(name)).toBe(true);
    }
  });
});
