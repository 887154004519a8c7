import { sql } from 'drizzle-orm';
import type { Db } from '../core/db';
import { escapeHtml } from '../core/telegram';

export interface ReportFigures {
  new_users: number;
  churned_users: number;
  revenue: Record<string, number>;
  payments: number;
  incidents: number;
  uptime: { node: string; percent: number }[];
  bandwidth_top: { node: string; bytes: number }[];
  top_errors: { task: string; error: string; count: number }[];
}

/** The figures of a period [from, to), each from one query. */
export async function reportFigures(db: Db, from: Date, to: Date): Promise<ReportFigures> {
  const f = from.toISOString();
  const t = to.toISOString();
  const one = async <T extends Record<string, unknown>>(q: ReturnType<typeof sql>) => (await db.execute<T>(q)).rows;
  const [counts] = await one<{ new_users: number; churned: number; incidents: number; payments: number }>(sql`
    select
      (select count(*)::int from users where created_at >= ${f}::timestamptz and created_at < ${t}::timestamptz) as new_users,
      (select count(*)::int from users where blocked_at >= ${f}::timestamptz and blocked_at < ${t}::timestamptz) as churned,
      (select count(*)::int from node_health_history where to_status = 'offline' and at >= ${f}::timestamptz and at < ${t}::timestamptz) as incidents,
      (select count(*)::int from payments where status = 'completed' and completed_at >= ${f}::timestamptz and completed_at < ${t}::timestamptz) as payments`);
  const revenue = await one<{ asset: string; total: string }>(sql`
    select asset, sum(amount::numeric)::text as total from payments
    where status = 'completed' and completed_at >= ${f}::timestamptz and completed_at < ${t}::timestamptz group by asset order by asset`);
  // Time online ÷ time observed per node, from the status changes (each lasts until the next one).
  const uptime = await one<{ node: string; percent: number }>(sql`
    with events as (
      select node_uuid, to_status, at, lead(at) over (partition by node_uuid order by at) as until
      from node_health_history where at < ${t}::timestamptz),
    spans as (
      select node_uuid, to_status,
             extract(epoch from least(coalesce(until, ${t}::timestamptz), ${t}::timestamptz) - greatest(at, ${f}::timestamptz)) as secs
      from events where coalesce(until, ${t}::timestamptz) > ${f}::timestamptz)
    select coalesce(h.name, s.node_uuid::text) as node,
           round((100 * sum(secs) filter (where to_status = 'online') / nullif(sum(secs), 0))::numeric, 2)::float8 as percent
    from spans s left join node_health h using (node_uuid)
    group by 1 having sum(secs) > 0 order by percent nulls first, node`);
  const bandwidth = await one<{ node: string; bytes: string }>(sql`
    select coalesce(h.name, b.node_uuid) as node, sum(b.sum_bytes)::text as bytes
    from bandwidth_hourly b left join node_health h on h.node_uuid::text = b.node_uuid
    where b.hour >= ${f}::timestamptz and b.hour < ${t}::timestamptz
    group by 1 order by sum(b.sum_bytes) desc limit 5`);
  const errors = await one<{ task: string; error: string; count: number }>(sql`
    select name as task, left(error, 120) as error, count(*)::int as count from task_runs
    where error is not null and finished_at >= ${f}::timestamptz and finished_at < ${t}::timestamptz and status in ('failed', 'dead')
    group by 1, 2 order by 3 desc, 1 limit 5`);
  return {
    new_users: counts?.new_users ?? 0,
    churned_users: counts?.churned ?? 0,
    revenue: Object.fromEntries(revenue.map((r) => [r.asset, Number(r.total)])),
    payments: counts?.payments ?? 0,
    incidents: counts?.incidents ?? 0,
    uptime: uptime.map((u) => ({ node: u.node, percent: u.percent ?? 0 })),
    bandwidth_top: bandwidth.map((b) => ({ node: b.node, bytes: Number(b.bytes) })),
    top_errors: errors,
  };
}

const gib = (bytes: number) => `${(bytes / 1024 ** 3).toFixed(2)} GiB`;

function trend(now: number, before: number | undefined): string {
  if (before === undefined) return '';
  if (before === 0) return now === 0 ? ' (=)' : ' (new)';
  const pct = Math.round(((now - before) / before) * 100);
  return ` (${pct >= 0 ? '+' : ''}${pct}% vs last week)`;
}

/** The report as Telegram HTML; with `previous`, every count shows its trend against it. */
export function renderReport(title: string, from: Date, to: Date, r: ReportFigures, previous?: ReportFigures): string {
  const day = (d: Date) => d.toISOString().slice(0, 10);
  const revenue = Object.entries(r.revenue);
  const lines = [
    `📊 <b>${escapeHtml(title)}</b> ${day(from)} – ${day(new Date(to.getTime() - 1))}`,
    '',
    `👤 New users: <b>${r.new_users}</b>${trend(r.new_users, previous?.new_users)}`,
    `🚪 Churn (blocked the bot): <b>${r.churned_users}</b>${trend(r.churned_users, previous?.churned_users)}`,
    `💰 Revenue: <b>${revenue.length ? revenue.map(([a, v]) => `${v} ${escapeHtml(a)}`).join(', ') : '0'}</b> from ${r.payments} payments${trend(r.payments, previous?.payments)}`,
    `🚨 Incidents (node went offline): <b>${r.incidents}</b>${trend(r.incidents, previous?.incidents)}`,
  ];
  if (r.uptime.length) lines.push('', '<b>Uptime</b>', ...r.uptime.map((u) => `• ${escapeHtml(u.node)}: ${u.percent}%`));
  if (r.bandwidth_top.length)
    lines.push('', '<b>Bandwidth, top 5</b>', ...r.bandwidth_top.map((b) => `• ${escapeHtml(b.node)}: ${gib(b.bytes)}`));
  if (r.top_errors.length)
    lines.push('', '<b>Top errors</b>', ...r.top_errors.map((e) => `• ${escapeHtml(e.task)} ×${e.count}: ${escapeHtml(e.error)}`));
  return lines.join('\n');
}
