/**
 * Notifications against the strict Telegram stand-in (40 ± 15 ms per call, its own process):
 * 1. how long from an insert (`POST /api/notifications`) to the message reaching Telegram;
 * 2. what a notification costs: Postgres round trips and queue operations per 1,000, for a burst of
 *    single inserts through the API and for one `bulk_notify`;
 * 3. how fast a backlog drains through the bot-wide gate — rate ÷ limit, duplicates, lost, 429s.
 *
 *   npm run bench:notifications -- [--latency-n 200] [--burst 1000] [--bulk 5000] [--drain 10000] [--limit 100]
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { adminApi, benchStack, figure, quantile, remoteTelegram, round } from './lib.ts';

const { values } = parseArgs({
  options: {
    'latency-n': { type: 'string', default: '200' },
    burst: { type: 'string', default: '1000' },
    bulk: { type: 'string', default: '5000' },
    drain: { type: 'string', default: '10000' },
    limit: { type: 'string', default: '100' },
  },
});
const limit = Number(values.limit);
const telegram = await remoteTelegram(['--latency', '40', '--jitter', '15', '--rate', String(limit), '--per-chat', '0']);
const stack = await benchStack({ vars: { TELEGRAM_API_ROOT: telegram.url, TELEGRAM_RATE_LIMIT: String(limit) } });
const db = new pg.Client({ connectionString: stack.databaseUrl });
await db.connect();
const api = adminApi(stack);
const post = (body: unknown) => api('/notifications', body);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const until = async (what: string, done: () => Promise<boolean>, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(200);
  }
};
const pending = async () =>
  (await db.query<{ n: number }>(`select count(*)::int as n from notification_queue where status = 'pending'`)).rows[0]?.n ?? 0;
/** Round trips the Worker made to Postgres so far (the SQL-over-HTTP endpoint counts them). */
const roundTrips = async () => ((await (await fetch(`http://${stack.vars.DATABASE_PROXY}/stats`)).json()) as { requests: number }).requests;
/** Task messages the notification path put on the queue since `since`: each costs 3 operations (write, read, delete). */
const queueOps = async (since: Date) =>
  3 *
    ((
      await db.query<{ n: number }>(
        `select count(*)::int as n from task_runs where name in ('process_notifications', 'bulk_notify', 'send_notification') and created_at >= $1`,
        [since],
      )
    ).rows[0]?.n ?? 0) +
  // retries read a message again
  ((
    await db.query<{ n: number }>(
      `select coalesce(sum(greatest(attempts - 1, 0)), 0)::int as n from task_runs
       where name in ('process_notifications', 'bulk_notify', 'send_notification') and created_at >= $1`,
      [since],
    )
  ).rows[0]?.n ?? 0);

try {
  // 1. Insert → send, one notification every 100 ms (well under the gate's rate).
  const n = Number(values['latency-n']);
  const base = 7_000_000_000;
  const insertedAt = new Map<number, number>();
  for (let i = 1; i <= n; i++) {
    insertedAt.set(base + i, Date.now());
    await post({ telegram_id: base + i, text: `latency ${i}`, type: 'bench' });
    await sleep(100);
  }
  await until('latency notifications sent', async () => (await pending()) === 0, 60_000);
  const latencies = (await telegram.deliveries())
    .filter((d) => insertedAt.has(d.chat_id))
    .map((d) => d.at - (insertedAt.get(d.chat_id) as number));
  console.log(`\nnotifications: insert → Telegram, ${n} inserts at 10/s, 40 ± 15 ms Telegram latency`);
  figure('sent / inserted', `${latencies.length}/${n}`);
  figure('p50 insert → send, ms', round(quantile(latencies, 0.5)));
  figure('p95 insert → send, ms', round(quantile(latencies, 0.95)), '<= 2000');
  figure('max insert → send, ms', round(Math.max(...latencies)));

  // 2. What a notification costs, in platform operations.
  const per1000 = (x: number, of: number) => round((x / of) * 1000);
  const burst = Number(values.burst);
  const burstBase = 7_200_000_000;
  let since = new Date();
  let trips = await roundTrips();
  await Promise.all(
    Array.from({ length: 10 }, async (_, lane) => {
      for (let i = lane; i < burst; i += 10) await post({ telegram_id: burstBase + i, text: `burst ${i}`, type: 'bench' });
    }),
  );
  await until('the burst sent', async () => (await pending()) === 0, 10 * 60_000);
  const burstTrips = (await roundTrips()) - trips;
  const burstOps = await queueOps(since);
  const bulk = Number(values.bulk);
  const bulkBase = 7_300_000_000;
  await db.query(`insert into users (telegram_id, full_name) select $1::bigint + g, 'bulk ' || g from generate_series(1, $2::int) g`, [
    bulkBase,
    bulk,
  ]);
  since = new Date();
  trips = await roundTrips();
  const ids = Array.from({ length: bulk }, (_, i) => bulkBase + 1 + i);
  const kicked = await api<{ id: string }>('/tasks', {
    name: 'bulk_notify',
    args: { telegram_ids: ids, message: 'to many', type: 'bench' },
  });
  await until(
    'the bulk send done',
    async () => {
      const { rows } = await db.query<{ done: number | null }>(`select (progress->>'done')::int as done from task_runs where id = $1`, [
        kicked.id,
      ]);
      return rows[0]?.done === bulk;
    },
    30 * 60_000,
  );
  const bulkTrips = (await roundTrips()) - trips;
  const bulkOps = await queueOps(since);
  console.log(`\nnotifications: platform operations per 1,000 (a burst of ${burst} API inserts; one bulk_notify to ${bulk})`);
  figure('burst: Postgres round trips per 1,000', per1000(burstTrips, burst));
  figure('burst: queue operations per 1,000', per1000(burstOps, burst), '<= 50');
  figure('bulk_notify: Postgres round trips per 1,000', per1000(bulkTrips, bulk), '<= 30');
  figure('bulk_notify: queue operations per 1,000', per1000(bulkOps, bulk), '<= 50');

  // 3. A backlog: rows inserted in one statement, one insert through the API to dispatch them.
  const m = Number(values.drain);
  const drainBase = 7_100_000_000;
  await telegram.reset();
  await db.query(
    `insert into notification_queue (telegram_id, type, text, dedupe_key)
     select $1::bigint + g, 'bench', 'drain ' || g, 'bench:' || g from generate_series(1, $2::int) g`,
    [drainBase, m],
  );
  const started = Date.now();
  await post({ telegram_id: drainBase, text: 'start the drain', type: 'bench' });
  await until('the backlog drained', async () => (await pending()) === 0, 30 * 60_000);
  const drained = (await telegram.deliveries()).filter((d) => d.chat_id > drainBase);
  const times = drained.map((d) => d.at).sort((a, b) => a - b);
  const distinct = new Set(drained.map((d) => d.chat_id));
  const rate = (times.length - 1) / (((times.at(-1) as number) - (times[0] as number)) / 1000);
  const stats = await telegram.stats();
  console.log(`\nnotifications: a backlog of ${m} drained through the gate at ${limit}/s`);
  figure('achieved rate ÷ limit', round(rate / limit, 3), '>= 0.9');
  figure('achieved messages/s', round(rate));
  figure('time to drain, s', round((Date.now() - started) / 1000));
  figure('duplicates', drained.length - distinct.size, '0');
  figure('lost', m - distinct.size, '0');
  figure('sends answered 429', stats.rejected429, '0');
} finally {
  await db.end();
  await stack.close();
  await telegram.close();
}
