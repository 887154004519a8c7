/**
 * Tasks end to end through Queues against the local stack: kick → queue → consumer → succeeded in the
 * result store. Kicks `echo` tasks one by one over HTTP, then in bulk (one call per 1,000 tasks), and
 * counts the queue operations the Worker logged for the bulk run.
 *
 *   npm run bench:tasks -- [--single 1000] [--bulk 5000] [--concurrency 16] [--runtime bundle|wrangler]
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { benchStack, figure, round } from './lib.ts';
import { type LoadRequest, runLoad } from './load.ts';

const { values } = parseArgs({
  options: {
    single: { type: 'string', default: '1000' },
    bulk: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '16' },
    runtime: { type: 'string', default: process.env.STACK_RUNTIME ?? 'bundle' },
  },
});
const single = Number(values.single);
const bulk = Number(values.bulk);
const runtime = values.runtime === 'wrangler' ? 'wrangler' : 'bundle';

/** Queue activity as the Worker logs it: messages sent, delivered (each delivery is a read), acked. */
const queue = { sent: 0, delivered: 0, acked: 0, retried: 0 };
const onLog = (line: string) => {
  const start = line.indexOf('{');
  if (start < 0) return;
  try {
    const event = JSON.parse(line.slice(start)) as Record<string, number | string>;
    if (event.event === 'tasks_kicked') queue.sent += Number(event.messages ?? 0);
    if (event.event === 'task_batch') {
      queue.delivered += Number(event.messages);
      queue.acked += Number(event.acked);
      queue.retried += Number(event.retried);
    }
  } catch {
    // not a log line of ours
  }
};

const stack = await benchStack({ runtime, onLog });
const db = new pg.Client({ connectionString: stack.databaseUrl });
await db.connect();
const headers = { 'content-type': 'application/json', authorization: `Bearer ${stack.vars.ADMIN_API_TOKEN}` };

async function waitForSucceeded(ids: string[]): Promise<void> {
  const deadline = Date.now() + 300_000;
  for (;;) {
    const { rows } = await db.query<{ n: number }>(
      "select count(*)::int as n from task_runs where id = any($1::uuid[]) and status = 'succeeded'",
      [ids],
    );
    if (rows[0]?.n === ids.length) return;
    if (Date.now() > deadline) throw new Error(`${rows[0]?.n}/${ids.length} succeeded after 300 s`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function kickBulk(count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i += 1000) {
    const tasks = Array.from({ length: Math.min(1000, count - i) }, (_, k) => ({ name: 'echo', args: { n: i + k } }));
    const res = await fetch(`${stack.url}/api/tasks/bulk`, { method: 'POST', headers, body: JSON.stringify({ tasks }) });
    if (res.status !== 202) throw new Error(`bulk kick: HTTP ${res.status} ${await res.text()}`);
    ids.push(...((await res.json()) as { runs: { id: string }[] }).runs.map((r) => r.id));
  }
  return ids;
}

try {
  await waitForSucceeded(await kickBulk(200)); // warm-up

  // One by one: every task is its own HTTP call and its own queue message.
  const requests: LoadRequest[] = Array.from({ length: single }, (_, i) => ({
    url: `${stack.url}/api/tasks`,
    method: 'POST',
    headers,
    body: JSON.stringify({ name: 'echo', args: { n: i } }),
  }));
  let started = performance.now();
  const load = await runLoad(requests, Number(values.concurrency));
  const { rows } = await db.query<{ id: string }>("select id from task_runs where name = 'echo' and args ? 'n' order by id desc limit $1", [
    single,
  ]);
  await waitForSucceeded(rows.map((r) => r.id));
  const singleSeconds = (performance.now() - started) / 1000;

  // Bulk: one call per 1,000 tasks, 100 tasks per queue message.
  Object.assign(queue, { sent: 0, delivered: 0, acked: 0, retried: 0 });
  started = performance.now();
  await waitForSucceeded(await kickBulk(bulk));
  const bulkSeconds = (performance.now() - started) / 1000;
  const ops = queue.sent + queue.delivered + queue.acked; // write + read + delete, each message < 64 KB

  console.log(`\ntasks: echo, runtime ${runtime}, database ${stack.embedded ? 'embedded PGlite' : 'DATABASE_URL'}`);
  figure('one by one over HTTP, tasks/s (kick → succeeded)', round(single / singleSeconds), undefined);
  figure('  kick calls answered 202', `${load.statuses[202] ?? 0}/${single}`);
  figure('bulk, tasks/s (kick → succeeded)', round(bulk / bulkSeconds), '>= 500');
  figure('bulk, queue messages sent / delivered / acked', `${queue.sent}/${queue.delivered}/${queue.acked}`);
  figure('bulk, queue operations per 1,000 tasks', round((ops / bulk) * 1000), '<= 40');
} finally {
  await db.end();
  await stack.close();
}
