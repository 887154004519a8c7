import { sql } from 'drizzle-orm';
import { type Collector, metricRows, QUEUE_BACKLOG } from '../core/prometheus';

/** Upper bounds of the task duration histogram, in seconds. */
const BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/**
 * Task outcomes are lifetime counters (`task_counters`), so they never decrease when finished runs
 * expire and `rate()` / `increase()` work on them; runs and durations come from `task_runs`.
 */
export const taskMetrics: Collector = async ({ db }) => {
  const [counters, runs, durations, backlog] = await Promise.all([
    metricRows<{ name: string; counter: string; value: number }>(db, sql`select name, counter, value::float8 as value from task_counters`),
    metricRows<{ name: string; status: string; n: number }>(db, sql`select name, status, count(*)::int as n from task_runs group by 1, 2`),
    metricRows<{ name: string; le: string; n: number; sum: number; count: number }>(
      db,
      sql`
      with d as (select name, extract(epoch from finished_at - started_at) as s from task_runs
                 where finished_at > now() - interval '1 hour' and started_at is not null)
      select name, b::text as le, count(*) filter (where s <= b)::int as n,
             (select coalesce(sum(s), 0) from d d2 where d2.name = d.name)::float8 as sum,
             (select count(*) from d d2 where d2.name = d.name)::int as count
      from d, unnest(${`{${BUCKETS.join(',')}}`}::float8[]) as b group by name, b order by name, b`,
    ),
    metricRows<{ n: number }>(db, sql`select count(*)::int as n from task_runs where status = 'queued' and next_attempt_at < now()`),
  ]);
  const byName = new Map<string, typeof durations>();
  for (const d of durations) byName.set(d.name, [...(byName.get(d.name) ?? []), d]);
  const counter = (name: string) => counters.filter((c) => c.counter === name).map((c) => ({ labels: { task: c.name }, value: c.value }));
  return [
    { name: 'flarecast_tasks_received_total', help: 'Task runs stored (kicked), by task.', type: 'counter', samples: counter('received') },
    { name: 'flarecast_tasks_succeeded_total', help: 'Task runs that succeeded.', type: 'counter', samples: counter('succeeded') },
    {
      name: 'flarecast_tasks_failed_total',
      help: 'Tries that failed (retried or not), by task: with succeeded_total, the tries made.',
      type: 'counter',
      samples: counter('failed'),
    },
    { name: 'flarecast_tasks_retried_total', help: 'Failed tries followed by a retry.', type: 'counter', samples: counter('retried') },
    {
      name: 'flarecast_tasks_dead_total',
      help: 'Task runs that used up their tries (or were dead-lettered).',
      type: 'counter',
      samples: counter('dead'),
    },
    {
      name: 'flarecast_task_errors_total',
      help: 'Failed tries by task and error type (the error class, or invalid_args, unknown_task, lease_expired).',
      type: 'counter',
      samples: counters
        .filter((c) => c.counter.startsWith('error:'))
        .map((c) => ({ labels: { task: c.name, type: c.counter.slice('error:'.length) }, value: c.value })),
    },
    {
      name: 'flarecast_task_runs',
      help: 'Task runs stored now, by task and status (finished runs expire after RESULT_TTL_SECONDS; dead ones after 7 days).',
      type: 'gauge',
      samples: runs.map((r) => ({ labels: { task: r.name, status: r.status }, value: r.n })),
    },
    {
      name: 'flarecast_task_duration_seconds',
      help: 'Duration of task runs finished in the last hour.',
      type: 'histogram',
      samples: [...byName.entries()].flatMap(([task, ds]) => [
        ...ds.map((d) => ({ suffix: '_bucket', labels: { task, le: d.le }, value: d.n })),
        { suffix: '_bucket', labels: { task, le: '+Inf' }, value: ds[0]?.count ?? 0 },
        { suffix: '_sum', labels: { task }, value: ds[0]?.sum ?? 0 },
        { suffix: '_count', labels: { task }, value: ds[0]?.count ?? 0 },
      ]),
    },
    { ...QUEUE_BACKLOG, samples: [{ labels: { queue: 'tasks' }, value: backlog[0]?.n ?? 0 }] },
  ];
};
