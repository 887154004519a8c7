import { sql } from 'drizzle-orm';
import type { Db } from '../core/db';

type Labels = Record<string, string | number>;
interface Family {
  name: string;
  help: string;
  type: 'gauge' | 'counter' | 'histogram';
  samples: { suffix?: string; labels?: Labels; value: number }[];
}

const escapeLabel = (v: string | number) => String(v).replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');

/** Prometheus text exposition format 0.0.4. */
export function render(families: Family[]): string {
  const lines: string[] = [];
  for (const f of families) {
    lines.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      const labels =
        s.labels && Object.keys(s.labels).length
          ? `{${Object.entries(s.labels)
              .map(([k, v]) => `${k}="${escapeLabel(v)}"`)
              .join(',')}}`
          : '';
      lines.push(`${f.name}${s.suffix ?? ''}${labels} ${Number.isFinite(s.value) ? s.value : 0}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/** Upper bounds of the task duration histogram, in seconds. */
const BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/**
 * Every metric read from Postgres at scrape time: Workers keep no state between requests, so the
 * stores are the source of truth (task counters and runs, notifications, payments, node health,
 * campaigns). Task outcomes are lifetime counters (`task_counters`), so they never decrease when
 * finished runs expire and `rate()` / `increase()` work on them.
 */
export async function collect(
  db: Db,
  gate: { granted: number; reports: number; blockedUntil: number; pace: number; lastFloodAt: number | null },
): Promise<Family[]> {
  const rows = async <T extends Record<string, unknown>>(q: ReturnType<typeof sql>) => (await db.execute<T>(q)).rows;
  const [counters, runs, durations, backlog, notifications, nodes, payments, campaigns, services] = await Promise.all([
    rows<{ name: string; counter: string; value: number }>(sql`select name, counter, value::float8 as value from task_counters`),
    rows<{ name: string; status: string; n: number }>(sql`select name, status, count(*)::int as n from task_runs group by 1, 2`),
    rows<{ name: string; le: string; n: number; sum: number; count: number }>(sql`
      with d as (select name, extract(epoch from finished_at - started_at) as s from task_runs
                 where finished_at > now() - interval '1 hour' and started_at is not null)
      select name, b::text as le, count(*) filter (where s <= b)::int as n,
             (select coalesce(sum(s), 0) from d d2 where d2.name = d.name)::float8 as sum,
             (select count(*) from d d2 where d2.name = d.name)::int as count
      from d, unnest(${`{${BUCKETS.join(',')}}`}::float8[]) as b group by name, b order by name, b`),
    rows<{ queue: string; n: number }>(sql`
      select 'tasks' as queue, count(*)::int as n from task_runs where status = 'queued' and next_attempt_at < now()
      union all select 'notifications', count(*)::int from notification_queue where status = 'pending' and scheduled_at <= now()`),
    rows<{ type: string; status: string; n: number }>(sql`select type, status, count(*)::int as n from notification_queue group by 1, 2`),
    rows<{ name: string; status: string }>(sql`select name, status from node_health`),
    rows<{ status: string; n: number }>(sql`select status, count(*)::int as n from payments group by 1`),
    rows<{ id: string; title: string; status: string; total: number; sent: number; failed: number; blocked: number; unknown: number }>(
      sql`select id::text, title, status, total, sent, failed, blocked, unknown from campaigns order by id desc limit 20`,
    ),
    rows<{ service: string; down: boolean }>(sql`select service, down from service_health`),
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
    {
      name: 'flarecast_queue_backlog',
      help: 'Work overdue in each queue.',
      type: 'gauge',
      samples: backlog.map((b) => ({ labels: { queue: b.queue }, value: b.n })),
    },
    {
      name: 'flarecast_notifications',
      help: 'Notifications by type and status.',
      type: 'gauge',
      samples: notifications.map((n) => ({ labels: { type: n.type, status: n.status }, value: n.n })),
    },
    {
      name: 'flarecast_node_up',
      help: '1 when the node is online, by node and status.',
      type: 'gauge',
      samples: nodes.map((n) => ({ labels: { node: n.name, status: n.status }, value: n.status === 'online' ? 1 : 0 })),
    },
    {
      name: 'flarecast_service_up',
      help: '0 while a checked service is reported down.',
      type: 'gauge',
      samples: services.map((s) => ({ labels: { service: s.service }, value: s.down ? 0 : 1 })),
    },
    {
      name: 'flarecast_payments',
      help: 'Payments by status.',
      type: 'gauge',
      samples: payments.map((p) => ({ labels: { status: p.status }, value: p.n })),
    },
    {
      name: 'flarecast_campaign_recipients',
      help: 'Recipients of the 20 latest campaigns by outcome (the row mirror, refreshed every 3 s while one runs).',
      type: 'gauge',
      samples: campaigns.flatMap((c) =>
        (['total', 'sent', 'failed', 'blocked', 'unknown'] as const).map((k) => ({
          labels: { campaign: c.id, status: c.status, counter: k },
          value: c[k],
        })),
      ),
    },
    {
      name: 'flarecast_gate_blocked_seconds',
      help: 'Seconds left of the bot-wide wait after a Telegram 429 (0: sending).',
      type: 'gauge',
      samples: [{ value: Math.max(0, (gate.blockedUntil - Date.now()) / 1000) }],
    },
    {
      name: 'flarecast_gate_slots_granted_total',
      help: 'Send slots the bot-wide gate granted (since its object started).',
      type: 'counter',
      samples: [{ value: gate.granted }],
    },
    {
      name: 'flarecast_gate_429_total',
      help: '429s from Telegram reported to the gate (since its object started).',
      type: 'counter',
      samples: [{ value: gate.reports }],
    },
    {
      name: 'flarecast_gate_pace_ratio',
      help: 'The pace of the bot-wide gate as a share of Telegram limits (cut by a 429, climbing back while quiet).',
      type: 'gauge',
      samples: [{ value: gate.pace }],
    },
    {
      name: 'flarecast_gate_last_429_timestamp_seconds',
      help: 'When the last flood wait began (unix seconds; 0: none since the gate object started).',
      type: 'gauge',
      samples: [{ value: gate.lastFloodAt === null ? 0 : gate.lastFloodAt / 1000 }],
    },
  ];
}
