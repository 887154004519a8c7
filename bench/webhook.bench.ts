/**
 * Webhook throughput against the local stack: the Worker + the database + the Telegram stand-in.
 * Posts Telegram updates as Telegram does (one at a time per chat, many chats at once; `--concurrency`
 * plays the webhook's max_connections) and prints updates/s with p50/p99 latency, then checks every
 * user landed in Postgres.
 *
 *   npm run bench:webhook -- [--updates 5000] [--users 1000] [--concurrency 16] [--runtime bundle|wrangler]
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { benchStack, figure, quantile, round } from './lib.ts';
import { type LoadRequest, runLoad } from './load.ts';

const { values } = parseArgs({
  options: {
    updates: { type: 'string', default: '5000' },
    users: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '16' },
    runtime: { type: 'string', default: process.env.STACK_RUNTIME ?? 'bundle' },
  },
});
const updates = Number(values.updates);
const users = Number(values.users);
const concurrency = Number(values.concurrency);
const runtime = values.runtime === 'wrangler' ? 'wrangler' : 'bundle';

const stack = await benchStack({ runtime });
try {
  const base = 7_000_000_000 + Math.floor(Math.random() * 1e6) * 1000;
  const updateIdBase = Math.floor(Math.random() * 1e9);
  const request = (i: number): LoadRequest => {
    const userId = base + (i % users);
    const from = { id: userId, is_bot: false, first_name: `Bench${i % users}`, language_code: i % 2 ? 'ru' : 'en' };
    const message = {
      message_id: i,
      date: Math.floor(Date.now() / 1000),
      chat: { id: userId, type: 'private', first_name: from.first_name },
      from,
      text: `message ${i}`,
    };
    return {
      url: `${stack.url}/telegram/webhook`,
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': stack.vars.TELEGRAM_WEBHOOK_SECRET as string },
      body: JSON.stringify({ update_id: updateIdBase + i, message }),
    };
  };

  // Warm-up: compile the Worker's code paths and fill the proxy's connection pool.
  await runLoad(
    Array.from({ length: 300 }, (_, i) => request(updates + i)),
    concurrency,
  );
  const run = await runLoad(
    Array.from({ length: updates }, (_, i) => request(i)),
    concurrency,
  );

  const db = new pg.Client({ connectionString: stack.databaseUrl });
  await db.connect();
  const stored = await db.query<{ n: string }>('select count(*) as n from users where telegram_id >= $1 and telegram_id < $2', [
    base,
    base + users,
  ]);
  await db.end();

  console.log(
    `\nwebhook: ${updates} updates from ${users} users, ${concurrency} in flight, runtime ${runtime}, database ${stack.embedded ? 'embedded PGlite' : 'DATABASE_URL'}`,
  );
  figure('updates/s', round(updates / run.seconds), '>= 500');
  figure('p50 latency, ms', round(quantile(run.latencies, 0.5)));
  figure('p99 latency, ms', round(quantile(run.latencies, 0.99)), '<= 50');
  figure('answers 200', `${run.statuses[200] ?? 0}/${updates}`);
  figure('users stored / expected', `${stored.rows[0]?.n}/${users}`);
} finally {
  await stack.close();
}
