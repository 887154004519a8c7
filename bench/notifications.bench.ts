/**
 * Notifications against the Telegram stand-in (~40 ms per call): how long from an insert
 * (`POST /api/notifications`) to the message reaching Telegram, and how fast a backlog of queued
 * notifications drains through the bot-wide gate — rate ÷ limit, duplicates, lost, 429s.
 *
 *   npm run bench:notifications -- [--latency-n 200] [--drain 10000] [--limit 100]
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { benchStack, figure, quantile, round } from './lib.ts';

const { values } = parseArgs({
  options: {
    'latency-n': { type: 'string', default: '200' },
    drain: { type: 'string', default: '10000' },
    limit: { type: 'string', default: '100' },
  },
});
const limit = Number(values.limit);
const stack = await benchStack({
  telegram: { latencyMs: 40, rateLimit: limit, perChatPerSecond: 0 },
  vars: { TELEGRAM_RATE_LIMIT: String(limit) },
});
const telegram = stack.telegram;
if (!telegram) throw new Error('the benchmark needs the Telegram stand-in (unset TELEGRAM_API_ROOT)');
const db = new pg.Client({ connectionString: stack.databaseUrl });
await db.connect();
const post = (body: unknown) =>
  fetch(`${stack.url}/api/notifications`, {
    method: 'POST',
    headers: { authorization: `Bearer ${stack.vars.ADMIN_API_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  }).then((r) => {
    if (r.status !== 202) throw new Error(`POST /api/notifications: HTTP ${r.status}`);
  });
const until = async (what: string, done: () => Promise<boolean>, timeoutMs: number) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

try {
  // 1. Insert → send, one notification every 100 ms (well under the gate's rate).
  const n = Number(values['latency-n']);
  const base = 7_000_000_000;
  const insertedAt = new Map<number, number>();
  for (let i = 1; i <= n; i++) {
    insertedAt.set(base + i, Date.now());
    await post({ telegram_id: base + i, text: `latency ${i}`, type: 'bench' });
    await new Promise((r) => setTimeout(r, 100));
  }
  const arrived = () => telegram.deliveries.filter((d) => insertedAt.has(d.chat_id));
  await until('latency notifications sent', async () => arrived().length >= n, 60_000);
  const latencies = arrived().map((d) => d.at - (insertedAt.get(d.chat_id) as number));
  console.log(`\nnotifications: insert → Telegram, ${n} inserts at 10/s, 40 ms Telegram latency`);
  figure('p50 insert → send, ms', round(quantile(latencies, 0.5)));
  figure('p95 insert → send, ms', round(quantile(latencies, 0.95)), '<= 2000');
  figure('max insert → send, ms', round(Math.max(...latencies)));

  // 2. A backlog: rows inserted in one statement, one kick, drained at the gate's rate.
  const m = Number(values.drain);
  const drainBase = 7_100_000_000;
  telegram.reset();
  await db.query(
    `insert into notification_queue (telegram_id, type, text, dedupe_key)
     select $1::bigint + g, 'bench', 'drain ' || g, 'bench:' || g from generate_series(1, $2::int) g`,
    [drainBase, m],
  );
  const started = Date.now();
  await post({ telegram_id: drainBase, text: 'start the drain', type: 'bench' });
  await until(
    'the backlog drained',
    async () => {
      const { rows } = await db.query<{ n: number }>(`select count(*)::int as n from notification_queue where status = 'pending'`);
      return rows[0]?.n === 0;
    },
    30 * 60_000,
  );
  const drained = telegram.deliveries.filter((d) => d.chat_id > drainBase);
  const times = drained.map((d) => d.at).sort((a, b) => a - b);
  const distinct = new Set(drained.map((d) => d.chat_id));
  const rate = (times.length - 1) / (((times.at(-1) as number) - (times[0] as number)) / 1000);
  console.log(`\nnotifications: a backlog of ${m} drained through the gate at ${limit}/s`);
  figure('achieved rate ÷ limit', round(rate / limit, 3), '>= 0.9');
  figure('achieved messages/s', round(rate));
  figure('time to drain, s', round((Date.now() - started) / 1000));
  figure('duplicates', drained.length - distinct.size, '0');
  figure('lost', m - distinct.size, '0');
  figure('sends answered 429', telegram.stats.rejected429, '0');
} finally {
  await db.end();
  await stack.close();
}
