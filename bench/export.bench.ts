/**
 * An export of N users (default 100,000) to R2 as CSV: rows/s from request to completion, the size,
 * the parts, the most the export held in memory, and the workerd process's resident memory before and
 * at its peak during the export (read from /proc; the isolate itself offers no memory figure).
 *
 *   npm run bench:export -- [--rows 100000] [--format csv|json]
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { adminApi, benchStack, figure, round } from './lib.ts';

const { values } = parseArgs({ options: { rows: { type: 'string', default: '100000' }, format: { type: 'string', default: 'csv' } } });
const n = Number(values.rows);
const stack = await benchStack();

/** Resident memory of this process's workerd children, in MiB. */
function workerdRss(): number {
  const pids = execFileSync('pgrep', ['-P', String(process.pid), '-f', 'workerd'], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .filter(Boolean);
  let kb = 0;
  for (const pid of pids) {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    kb += Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  }
  return kb / 1024;
}

const db = new pg.Client({ connectionString: stack.databaseUrl });
await db.connect();
try {
  await db.query(
    `insert into users (telegram_id, username, full_name, language_code, created_at)
     select 6000000000 + g, 'bench' || g, 'Bench User ' || g, 'en', '2022-01-01T00:00:00Z'::timestamptz + g * interval '10 ms'
     from generate_series(1, $1::int) g`,
    [n],
  );
  const api = adminApi(stack);
  const rssBefore = workerdRss();
  let rssPeak = rssBefore;
  const started = Date.now();
  const { export_id } = await api('/exports', {
    type: 'users',
    from: '2022-01-01T00:00:00Z',
    to: '2022-01-02T00:00:00Z',
    format: values.format,
  });
  let status: Record<string, unknown> = {};
  while (status.status !== 'completed') {
    if (status.status === 'failed' || Date.now() - started > 10 * 60_000)
      throw new Error(`export did not complete: ${JSON.stringify(status)}`);
    await new Promise((r) => setTimeout(r, 50));
    rssPeak = Math.max(rssPeak, workerdRss());
    status = await api(`/exports/${export_id}`);
  }
  const seconds = (Date.now() - started) / 1000;
  const { rows } = await db.query<{ result: { bytes: number; parts: number; peak_buffered_bytes: number } }>(
    'select result from task_runs where id = $1',
    [export_id],
  );
  const result = rows[0]?.result;
  console.log(`\nexport: ${n} users as ${values.format}`);
  figure('rows/s (request → file complete in R2)', round((status.rows as number) / seconds));
  figure('rows exported', status.rows as number);
  figure('file size, MiB', round((result?.bytes ?? 0) / 1048576, 2));
  figure('multipart parts', result?.parts ?? 0);
  figure('most held in memory by the export, MiB', round((result?.peak_buffered_bytes ?? 0) / 1048576, 2), '<= 5 (one part)');
  figure('workerd RSS before / peak, MiB', `${round(rssBefore)} / ${round(rssPeak)}`);
} finally {
  await db.end();
  await stack.close();
}
