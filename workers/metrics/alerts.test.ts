import { env } from 'cloudflare:workers';
import { sql } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import alertsYml from '../../deploy/alerts.yml?raw';
import { botGate } from '../../durable-objects/gate/gate.do';
import { nodeHealthTable, serviceHealthTable } from '../monitoring/monitoring.schema';
import { paymentsTable } from '../payments/payments.schema';
import { taskRegistry } from '../registry';
import { defineTask } from '../tasks/task';
import { withTestDb } from '../testing/db';
import { call, callApi, json } from '../testing/http';
import { evaluate, fires, parseRules, parseScrape, type Scrape } from '../testing/promql';
import { kickOverHttp, runWithStatus } from '../testing/runs';

taskRegistry.register(
  defineTask({
    name: 'test_alert_fails',
    args: z.object({}),
    retry: { maxAttempts: 1 },
    onExhausted: 'skip',
    handler: async () => {
      throw new Error('fails on purpose');
    },
  }),
);

const rules = parseRules(alertsYml);
const node = crypto.randomUUID();
const service = `test-service-${node.slice(0, 8)}`;
const tag = `alerts-${node}`;

/** A scrape of `/metrics`, recorded as taken `at` seconds into the recording. */
async function scrape(at: number): Promise<Scrape> {
  const res = await call('/metrics', { headers: { authorization: `Bearer ${env.METRICS_TOKEN}` } });
  expect(res.status).toBe(200);
  return parseScrape(await res.text(), at);
}

/** The runs this file kicked. */
const kicked: string[] = [];

/** Kicks `ok` echo runs and `failing` runs that die on their only try, and waits for all of them. */
async function runTasks(ok: number, failing: number): Promise<void> {
  const tasks = [
    ...Array.from({ length: ok }, (_, i) => ({ name: 'echo', args: { i } })),
    ...Array.from({ length: failing }, () => ({ name: 'test_alert_fails', args: {} })),
  ];
  const { runs } = await json<{ runs: { id: string }[] }>(await callApi('/tasks/bulk', { body: { tasks } }));
  for (const [i, r] of runs.entries()) await runWithStatus(r.id, i < ok ? 'succeeded' : 'dead');
  kicked.push(...runs.map((r) => r.id));
}

const firing = (scrapes: Scrape[]) => Object.fromEntries(rules.map((r) => [r.alert, fires(r, scrapes)]));
const none = Object.fromEntries(rules.map((r) => [r.alert, false]));

afterAll(async () => {
  await withTestDb(async (db) => {
    await db.delete(nodeHealthTable).where(sql`${nodeHealthTable.nodeUuid} = ${node}`);
    await db.delete(serviceHealthTable).where(sql`${serviceHealthTable.service} = ${service}`);
    await db.execute(sql`delete from notification_queue where dedupe_key like ${`${tag}%`}`);
  });
});

describe('deploy/alerts.yml against recorded scrapes', () => {
  it('has the six rules of the seed, each parsed', () => {
    expect(rules.map((r) => r.alert)).toEqual([
      'FlarecastNodeOffline',
      'FlarecastTaskErrorRate',
      'FlarecastQueueBacklog',
      'FlarecastPaymentFailures',
      'FlarecastServiceDown',
      'FlarecastTelegramFloodWait',
    ]);
    for (const r of rules) expect(r.expr.length, r.alert).toBeGreaterThan(10);
  });

  it('stays quiet on a healthy quarter hour, with 1 failed try in 40 (2.5 %)', async () => {
    // What earlier files left: every node online, every service up.
    await withTestDb(async (db) => {
      await db.update(nodeHealthTable).set({ status: 'online' });
      await db.update(serviceHealthTable).set({ down: false, failures: 0 });
    });
    await runTasks(1, 1); // so that every counter series exists before the recording starts
    const start = await scrape(0);
    await runTasks(39, 1);
    const end = await scrape(900);
    expect(firing([start, end])).toEqual(none);
    // The error rate the rule saw: exactly 1 failed try of 40.
    const [rule] = rules.filter((r) => r.alert === 'FlarecastTaskErrorRate');
    const ratio = evaluate((rule?.expr ?? '').replace(/ > 0\.05$/, ''), [start, end]);
    expect(ratio.map((p) => p.value)).toEqual([1 / 40]);
  });

  it('fires every rule when its condition holds, and the task counters never decrease when runs expire', async () => {
    const base = 2_000_000_000 + Math.floor(Math.random() * 1_000_000) * 20;
    const payments = (from: number, statuses: ('failed' | 'completed')[]) =>
      withTestDb((db) =>
        db.insert(paymentsTable).values(
          statuses.map((status, i) => ({
            invoiceId: base + from + i,
            remnawaveUserId: 1,
            plan: 'month',
            days: 30,
            amount: '1',
            asset: 'USDT',
            status,
          })),
        ),
      );
    // A payment series appears once a payment has its status: make both exist before the recording.
    await payments(0, ['failed', 'completed']);
    const start = await scrape(0);
    await runTasks(30, 10); // 10 failed tries of 40: 25 %
    await withTestDb(async (db) => {
      await db.insert(nodeHealthTable).values({ nodeUuid: node, name: 'alert-node', status: 'offline' });
      await db.insert(serviceHealthTable).values({ service, failures: 3, down: true });
      await db.execute(sql`insert into notification_queue (telegram_id, type, text, scheduled_at, claimed_until, dedupe_key)
        select 7800000000 + g, 'alerts-test', 'x', now() - interval '2 minutes', now() + interval '1 hour', ${tag} || g
        from generate_series(1, 501) g`);
    });
    await payments(2, ['failed', 'failed', ...Array<'completed'>(8).fill('completed')]); // 2 of 10 failed
    await botGate(env).block(Date.now() + 120_000);
    const end = await scrape(900);
    expect(firing([start, end])).toEqual(Object.fromEntries(rules.map((r) => [r.alert, true])));

    // Result cleanup removes the runs; their counters stay.
    const ids = sql`(select jsonb_array_elements_text(${JSON.stringify(kicked)}::jsonb)::uuid)`;
    await withTestDb((db) => db.execute(sql`update task_runs set expires_at = now() - interval '1 second' where id in ${ids}`));
    await runWithStatus(await kickOverHttp('cleanup_task_results'), 'succeeded');
    const after = await scrape(960);
    const series = (s: Scrape, name: string) =>
      new Map(s.samples.filter((x) => x.name === name).map((x) => [JSON.stringify(x.labels), x.value]));
    for (const name of ['received', 'succeeded', 'failed', 'retried', 'dead'].map((n) => `flarecast_tasks_${n}_total`)) {
      const before = series(end, name);
      const now = series(after, name);
      for (const [labels, value] of before) expect(now.get(labels), `${name}${labels}`).toBeGreaterThanOrEqual(value);
    }
    const echo = JSON.stringify({ task: 'echo' });
    expect(series(after, 'flarecast_tasks_succeeded_total').get(echo)).toBe(series(end, 'flarecast_tasks_succeeded_total').get(echo));
    // …while the runs themselves are gone, and the gauge of stored runs dropped by as many.
    const stored = await withTestDb((db) => db.execute<{ n: number }>(sql`select count(*)::int as n from task_runs where id in ${ids}`));
    expect(stored.rows[0]?.n).toBe(0);
    const runsOf = (s: Scrape) => evaluate('sum(flarecast_task_runs{task="echo",status="succeeded"})', [s])[0]?.value ?? 0;
    expect(runsOf(end) - runsOf(after)).toBe(70);
    // The increase over the window is what ran in it, counted across the cleanup.
    expect(evaluate('sum(increase(flarecast_tasks_dead_total{task="test_alert_fails"}[20m]))', [start, after])[0]?.value).toBe(10);
  });
});
