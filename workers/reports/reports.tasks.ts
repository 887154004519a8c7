import { sql } from 'drizzle-orm';
import { z } from 'zod';
import type { Db } from '../core/db';
import type { Severity } from '../incidents/incidents';
import { notifyAdmins } from '../incidents/incidents';
import { defineTask, seedPolicies, type TaskContext } from '../tasks/task';
import { renderReport, reportFigures } from './reports';
import { anomaliesTable } from './reports.schema';

const DAY = 86_400_000;
/** The seed's report policy: 2 retries, 10 minutes apart; then the admins are told (a dead run). */
const retry = seedPolicies.reports;
const startOfUtcDay = (t: number) => new Date(Math.floor(t / DAY) * DAY);

/** Daily at 06:00 UTC: yesterday, to the admins. */
const dailyReportTask = defineTask({
  name: 'daily_report',
  args: z.object({ day: z.iso.date().optional() }).strict(),
  retry,
  handler: async ({ args, db, env, config, log }) => {
    const from = args.day ? new Date(`${args.day}T00:00:00Z`) : new Date(startOfUtcDay(Date.now()).getTime() - DAY);
    const to = new Date(from.getTime() + DAY);
    const figures = await reportFigures(db, from, to);
    await notifyAdmins(env, config, renderReport('Daily report', from, to, figures), log);
    return figures;
  },
});

/** Weekly on Monday 07:00 UTC: the last 7 days, with trends against the 7 before. */
const weeklyReportTask = defineTask({
  name: 'weekly_report',
  args: z.object({ until: z.iso.date().optional() }).strict(),
  retry,
  handler: async ({ args, db, env, config, log }) => {
    const to = args.until ? new Date(`${args.until}T00:00:00Z`) : startOfUtcDay(Date.now());
    const from = new Date(to.getTime() - 7 * DAY);
    const [figures, previous] = await Promise.all([
      reportFigures(db, from, to),
      reportFigures(db, new Date(from.getTime() - 7 * DAY), from),
    ]);
    await notifyAdmins(env, config, renderReport('Weekly report', from, to, figures, previous), log);
    return { figures, previous };
  },
});

interface Check {
  kind: string;
  /** The seed's severity of this anomaly (§8.3). */
  severity: Severity;
  /** The value and whether it is an anomaly. */
  measure(db: Db): Promise<{ value: number; active: boolean; text: string }>;
}

const ratio = (bad: number, all: number) => (all ? bad / all : 0);

/** The seed's anomalies (a node offline > 5 min is escalated by check_node_health itself). */
const checks: Check[] = [
  {
    kind: 'task_error_rate',
    severity: 'warning',
    async measure(db) {
      // A failure an external service's outage caused is that outage's incident (one alert, one
      // "resolved"), not a second alert about the error rate it drives up.
      const [r] = (
        await db.execute<{ bad: number; all: number }>(sql`
          select count(*) filter (where status in ('failed', 'dead')
                                    and coalesce(history -> -1 ->> 'cause', '') not like 'outage:%')::int as bad,
                 count(*)::int as "all"
          from task_runs where finished_at > now() - interval '15 minutes' or (status = 'failed' and started_at > now() - interval '15 minutes')`)
      ).rows;
      const v = ratio(r?.bad ?? 0, r?.all ?? 0);
      return {
        value: v,
        active: (r?.all ?? 0) >= 20 && v > 0.05,
        text: `task error rate ${(v * 100).toFixed(1)}% over 15 min (${r?.bad}/${r?.all})`,
      };
    },
  },
  {
    kind: 'queue_backlog',
    severity: 'warning',
    async measure(db) {
      const [r] = (
        await db.execute<{ n: number }>(sql`
          select (select count(*) from task_runs where status = 'queued' and next_attempt_at < now() - interval '1 minute')::int
               + (select count(*) from notification_queue where status = 'pending' and scheduled_at < now() - interval '1 minute')::int as n`)
      ).rows;
      const n = r?.n ?? 0;
      return { value: n, active: n > 500, text: `queue backlog: ${n} tasks and notifications overdue` };
    },
  },
  {
    kind: 'payment_failures',
    severity: 'critical',
    async measure(db) {
      const [r] = (
        await db.execute<{ bad: number; all: number }>(sql`
          select count(*) filter (where status in ('failed', 'mismatch'))::int as bad, count(*)::int as "all"
          from payments where created_at > now() - interval '24 hours' and status <> 'pending'`)
      ).rows;
      const v = ratio(r?.bad ?? 0, r?.all ?? 0);
      return {
        value: v,
        active: (r?.all ?? 0) >= 10 && v > 0.1,
        text: `payment failures ${(v * 100).toFixed(1)}% over 24 h (${r?.bad}/${r?.all})`,
      };
    },
  },
];

/** Records an anomaly's state; true when it changed (only then is it alerted). */
async function flip(db: Db, kind: string, active: boolean, value: number): Promise<boolean> {
  const a = anomaliesTable;
  const rows = await db.execute(sql`
    insert into ${a} (kind, active, value) values (${kind}, ${active}, ${value})
    on conflict (kind) do update set active = excluded.active, value = excluded.value, changed_at = now()
      where ${a}.active is distinct from excluded.active
    returning kind, (xmax = 0) as inserted`);
  const row = rows.rows[0] as { inserted: boolean } | undefined;
  // A first row that is not an anomaly is no news.
  return row !== undefined && (active || !row.inserted);
}

const SEVERITY_LABEL: Record<Severity, string> = { warning: '⚠️ WARNING', critical: '🚨 CRITICAL' };

/**
 * Every 5 minutes: task error rate > 5 % over 15 min (WARNING; failures of a service outage left
 * out), backlog > 500 (WARNING), payment failures > 10 % over 24 h (CRITICAL); each alerted once,
 * and once resolved.
 */
const detectAnomaliesTask = defineTask({
  name: 'detect_anomalies',
  args: z.object({}).strict(),
  // Every 5 minutes: the seed's reports policy (10 min retries) would overlap two later runs; the
  // analytics one (one retry at once, then skip) fits a check that comes again in 5 minutes.
  retry: seedPolicies.analytics,
  onExhausted: 'skip',
  handler: async ({ db, env, config, log }: TaskContext<unknown>) => {
    const report: Record<string, { value: number; active: boolean }> = {};
    for (const check of checks) {
      const m = await check.measure(db);
      report[check.kind] = { value: m.value, active: m.active };
      if (await flip(db, check.kind, m.active, m.value))
        await notifyAdmins(
          env,
          config,
          m.active ? `${SEVERITY_LABEL[check.severity]}: <b>anomaly</b>: ${m.text}` : `✅ Resolved: ${m.text}`,
          log,
        );
    }
    return report;
  },
});

export const reportTasks = [dailyReportTask, weeklyReportTask, detectAnomaliesTask];
