/**
 * Webhook throughput against the local stack: `wrangler dev` + the database + the Telegram stand-in.
 * Posts Telegram updates the way Telegram does (one at a time per chat, many chats at once) and prints
 * updates/s with p50/p99 latency, then checks every user landed in Postgres.
 *
 *   npm run bench:webhook -- [--updates 5000] [--users 1000] [--concurrency 32]
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { startStack } from '../tools/stack.ts';
import { figure, freePort, pool, quantile, round } from './lib.ts';

const { values } = parseArgs({
  options: {
    updates: { type: 'string', default: '5000' },
    users: { type: 'string', default: '1000' },
    concurrency: { type: 'string', default: '32' },
  },
});
const updates = Number(values.updates);
const users = Number(values.users);
const concurrency = Number(values.concurrency);

const stack = await startStack({ port: await freePort(), dataDir: '.data/bench', memoryDb: true, onLog: () => {} });
try {
  const base = 7_000_000_000 + Math.floor(Math.random() * 1e6) * 1000;
  const updateIdBase = Math.floor(Math.random() * 1e9);
  const post = async (i: number) => {
    const userId = base + (i % users);
    const from = { id: userId, is_bot: false, first_name: `Bench${i % users}`, language_code: i % 2 ? 'ru' : 'en' };
    const body = JSON.stringify({
      update_id: updateIdBase + i,
      message: {
        message_id: i,
        date: Math.floor(Date.now() / 1000),
        chat: { id: userId, type: 'private', first_name: from.first_name },
        from,
        text: `message ${i}`,
      },
    });
    const started = performance.now();
    const res = await fetch(`${stack.url}/telegram/webhook`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': stack.vars.TELEGRAM_WEBHOOK_SECRET as string },
      body,
    });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`update ${i}: HTTP ${res.status}`);
    return performance.now() - started;
  };

  // Warm-up: compile the Worker, open the first connections.
  await pool(
    Array.from({ length: 200 }, (_, i) => updates + i),
    concurrency,
    async (i) => void (await post(i)),
  );

  const latencies: number[] = [];
  const started = performance.now();
  await pool(
    Array.from({ length: updates }, (_, i) => i),
    concurrency,
    async (i) => void latencies.push(await post(i)),
  );
  const seconds = (performance.now() - started) / 1000;

  const db = new pg.Client({ connectionString: stack.databaseUrl });
  await db.connect();
  const stored = await db.query<{ n: string }>('select count(*) as n from users where telegram_id >= $1 and telegram_id < $2', [
    base,
    base + users,
  ]);
  await db.end();

  console.log(
    `\nwebhook benchmark: ${updates} updates from ${users} users, ${concurrency} in flight, database ${stack.embedded ? 'embedded PGlite' : 'DATABASE_URL'}`,
  );
  figure('updates/s', round(updates / seconds), '>= 500');
  figure('p50 latency, ms', round(quantile(latencies, 0.5)));
  figure('p99 latency, ms', round(quantile(latencies, 0.99)), '<= 50');
  figure('users stored / expected', `${stored.rows[0]?.n}/${users}`);
} finally {
  await stack.close();
}
