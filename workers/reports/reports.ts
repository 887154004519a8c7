import { desc, sql } from 'drizzle-orm';
import type { Db } from '../core/db';
import { escapeHtml } from '../core/telegram';
import { type Revenue, revenueBetween } from '../payments/payments.repo';
import { cacheGet, PANEL_STATS_KEY } from '../sync/sync.cache';
import { anomaliesTable } from './reports.schema';

/** The latest anomalies the detector raised or cleared, newest first. */
export function recentAnomalies(db: Db, limit: number) {
  return db.select().from(anomaliesTable).orderBy(desc(anomaliesTable.changedAt)).limit(limit);
}

export interface ReportFigures {
  new_users: number;
  churned_users: number;
  /** Panel users ACTIVE now, from the cache `sync_user_stats` keeps (null while it has nothing). */
  active_users: number | null;
  revenue: Record<string, number>;
  revenue_by_plan: Revenue['by_plan'];
  revenue_by_method: Revenue['by_method'];
  payments: number;
  incidents: number;
  uptime: { node: string; percent: number }[];
  bandwidth_top: { node: string; bytes: number }[];
  top_errors: { task: string; error: string; count: number }[];
  /** Nodes that went offline most often in the period. */
  problem_nodes: { node: string; incidents: number }[];
  /** How fast the panel answered the minute checks in the period (null: no check passed). */
  panel_latency_ms: { avg: number; max: number; checks: number } | null;
}

/** The figures of a period [from, to), each from one query. */
export async function reportFigures(db: Db, from: Date, to: Date): Promise<ReportFigures> {
  const f = from.toISOString();
  const t = to.toISOString();
  const one = async <T extends Record<string, unknown>>(q: ReturnType<typeof sql>) => (await db.execute<T>(q)).rows;
  const [counts] = await one<{ new_users: number; churned: number; incidents: number }>(sql`
    select
      (select count(*)::int from users where created_at >= ${f}::timestamptz and created_at < ${t}::timestamptz) as new_users,
      (select count(*)::int from users where blocked_at >= ${f}::timestamptz and blocked_at < ${t}::timestamptz) as churned,
      (select count(*)::int from node_health_history where to_status = 'offline' and at >= ${f}::timestamptz and at < ${t}::timestamptz) as incidents`);
  const revenue = await revenueBetween(db, from, to);
  const problems = await one<{ node: string; incidents: number }>(sql`
    select coalesce(h.name, e.node_uuid::text) as node, count(*)::int as incidents
    from node_health_history e left join node_health h using (node_uuid)
    where e.to_status = 'offline' and e.at >= ${f}::timestamptz and e.at < ${t}::timestamptz
    group by 1 order by 2 desc, 1 limit 5`);
  const [latency] = await one<{ checks: number; total: string; max: number }>(sql`
    select coalesce(sum(checks), 0)::int as checks, coalesce(sum(total_ms), 0)::text as total, coalesce(max(max_ms), 0)::int as max
    from service_latency where service = 'remnawave' and day >= ${f}::date and day < ${t}::date`);
  const stats = await cacheGet<{ users?: { statusCounts?: Record<string, number> } }>(db, PANEL_STATS_KEY);
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
    active_users: stats?.users?.statusCounts?.ACTIVE ?? null,
    revenue: revenue.revenue,
    revenue_by_plan: revenue.by_plan,
    revenue_by_method: revenue.by_method,
    payments: revenue.count,
    incidents: counts?.incidents ?? 0,
    uptime: uptime.map((u) => ({ node: u.node, percent: u.percent ?? 0 })),
    bandwidth_top: bandwidth.map((b) => ({ node: b.node, bytes: Number(b.bytes) })),
    top_errors: errors,
    problem_nodes: problems,
    panel_latency_ms: latency?.checks
      ? { avg: Math.round(Number(latency.total) / latency.checks), max: latency.max, checks: latency.checks }
      : null,
  };
}

/** Uptime below this share of the period makes a node worth a look. */
const UPTIME_FLOOR_PERCENT = 99;
/** A panel slower than this on average is worth a look. */
const SLOW_PANEL_MS = 1000;
/** Revenue of an asset down by this share against the week before is worth a look. */
const REVENUE_DROP = 0.2;

/** What the admins might look at, from the week's figures against the week before ("none" is said too). */
function recommendations(r: ReportFigures, previous: ReportFigures): string[] {
  const out: string[] = [];
  for (const u of r.uptime.filter((u) => u.percent < UPTIME_FLOOR_PERCENT))
    out.push(`Node ${u.node} was up ${u.percent}% of the week: check its host and network.`);
  for (const p of r.problem_nodes.filter((p) => p.incidents >= 3)) out.push(`Node ${p.node} went offline ${p.incidents} times: it flaps.`);
  if (r.panel_latency_ms && r.panel_latency_ms.avg > SLOW_PANEL_MS)
    out.push(`The panel answered in ${r.panel_latency_ms.avg} ms on average: check its load.`);
  for (const [asset, before] of Object.entries(previous.revenue)) {
    const now = r.revenue[asset] ?? 0;
    if (before > 0 && (before - now) / before >= REVENUE_DROP)
      out.push(`Revenue in ${asset} fell ${Math.round(((before - now) / before) * 100)}%: check payments and renewals.`);
  }
  if (r.churned_users > r.new_users) out.push(`More users blocked the bot (${r.churned_users}) than joined (${r.new_users}).`);
  for (const e of r.top_errors.filter((e) => e.count >= 10))
    out.push(`Task ${e.task} failed ${e.count} times: see its runs in the console.`);
  return out;
}

const gib = (bytes: number) => `${(bytes / 1024 ** 3).toFixed(2)} GiB`;

function trend(now: number, before: number | undefined): string {
  if (before === undefined) return '';
  if (before === 0) return now === 0 ? ' (=)' : ' (new)';
  const pct = Math.round(((now - before) / before) * 100);
  return ` (${pct >= 0 ? '+' : ''}${pct}% vs last week)`;
}

const amounts = (revenue: Record<string, number>) =>
  Object.entries(revenue)
    .map(([a, v]) => `${v} ${escapeHtml(a)}`)
    .join(', ') || '0';

/**
 * The report as Telegram HTML; with `previous` (the weekly report), every count and each asset's
 * revenue show their trend against it, and the problem nodes, the panel's latency and recommendations follow.
 */
export function renderReport(title: string, from: Date, to: Date, r: ReportFigures, previous?: ReportFigures): string {
  const day = (d: Date) => d.toISOString().slice(0, 10);
  const assets = [...new Set([...Object.keys(r.revenue), ...Object.keys(previous?.revenue ?? {})])].sort();
  const revenue = previous
    ? assets.map((a) => `${r.revenue[a] ?? 0} ${escapeHtml(a)}${trend(r.revenue[a] ?? 0, previous.revenue[a] ?? 0)}`).join(', ') || '0'
    : amounts(r.revenue);
  const lines = [
    `📊 <b>${escapeHtml(title)}</b> ${day(from)} – ${day(new Date(to.getTime() - 1))}`,
    '',
    `👤 New users: <b>${r.new_users}</b>${trend(r.new_users, previous?.new_users)}`,
    `🚪 Churn (blocked the bot): <b>${r.churned_users}</b>${trend(r.churned_users, previous?.churned_users)}`,
    `✅ Active users: <b>${r.active_users ?? 'unknown'}</b>`,
    `💰 Revenue: <b>${revenue}</b> from ${r.payments} payments${trend(r.payments, previous?.payments)}`,
    ...Object.entries(r.revenue_by_plan).map(([plan, g]) => `  • plan ${escapeHtml(plan)}: ${amounts(g.revenue)} (${g.count})`),
    ...Object.entries(r.revenue_by_method).map(([method, g]) => `  • via ${escapeHtml(method)}: ${amounts(g.revenue)} (${g.count})`),
    `🚨 Incidents (node went offline): <b>${r.incidents}</b>${trend(r.incidents, previous?.incidents)}`,
  ];
  if (r.uptime.length) lines.push('', '<b>Uptime</b>', ...r.uptime.map((u) => `• ${escapeHtml(u.node)}: ${u.percent}%`));
  if (r.bandwidth_top.length)
    lines.push('', '<b>Bandwidth, top 5</b>', ...r.bandwidth_top.map((b) => `• ${escapeHtml(b.node)}: ${gib(b.bytes)}`));
  if (r.top_errors.length)
    lines.push('', '<b>Top errors</b>', ...r.top_errors.map((e) => `• ${escapeHtml(e.task)} ×${e.count}: ${escapeHtml(e.error)}`));
  if (previous) {
    if (r.problem_nodes.length)
      lines.push('', '<b>Problem nodes</b>', ...r.problem_nodes.map((p) => `• ${escapeHtml(p.node)}: offline ${p.incidents}×`));
    const l = r.panel_latency_ms;
    lines.push('', `⏱ Panel API: ${l ? `avg <b>${l.avg} ms</b>, max ${l.max} ms over ${l.checks} checks` : 'no answer recorded'}`);
    const advice = recommendations(r, previous);
    lines.push(
      '',
      '<b>Recommendations</b>',
      ...(advice.length ? advice.map((a) => `• ${escapeHtml(a)}`) : ['• None: nothing unusual this week.']),
    );
  }
  return lines.join('\n');
}
