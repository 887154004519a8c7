import { eq, sql } from 'drizzle-orm';
import { z } from 'zod';
import { dashboard } from '../../durable-objects/dashboard/dashboard.do';
import { cryptoPay } from '../clients/cryptobot';
import { remnawave } from '../clients/remnawave';
import type { Db } from '../core/db';
import { errorMessage } from '../core/logger';
import { escapeHtml } from '../core/telegram';
import { outageKey, raiseIncident, resolveIncident } from '../incidents/incidents';
import { defineTask, seedPolicies, type TaskContext } from '../tasks/task';
import { serviceHealthTable, serviceLatencyTable } from './monitoring.schema';
import { classify, observeNode } from './nodes';

/**
 * Every 2 minutes: every panel node classified and fed to its state machine (changes stored with
 * history, alerted once; offline > 5 min → CRITICAL). Panel errors: 2 more tries, 15 s apart. When
 * the state store is unavailable the statuses are logged and the run goes on.
 */
export const checkNodeHealthTask = defineTask({
  name: 'check_node_health',
  args: z.object({}).strict(),
  retry: seedPolicies.healthCheck,
  requires: ['panel'],
  onExhausted: 'skip',
  handler: async ({ db, config, env, log }) => {
    const nodes = await remnawave(config).nodes();
    const counts: Record<string, number> = { online: 0, offline: 0, warning: 0, maintenance: 0 };
    let alerts = 0;
    let stored = true;
    for (const node of nodes) {
      const status = classify(node);
      counts[status] = (counts[status] ?? 0) + 1;
      if (!stored) continue;
      try {
        if ((await observeNode({ db, env, config, log, onChange: (e) => dashboard(env).nodeChanged(e) }, node, status, 'poll')).alerted)
          alerts++;
      } catch (err) {
        stored = false;
        log.error('node_health_store_unavailable', {
          error: errorMessage(err),
          statuses: nodes.map((n) => ({ node: n.name, status: classify(n) })),
        });
      }
    }
    return { nodes: nodes.length, ...counts, alerts, stored };
  },
});

const FAILURES_TO_ALERT = 3;
/**
 * An outage opened by the jobs it killed (not by this check) is resolved once the check passes and
 * no job has failed of it for this long.
 */
const OUTAGE_QUIET_MS = 10 * 60_000;

/** A probe's answer when its service is not configured (reported `off`, never counted as a failure). */
const OFF = Symbol('off');

const probes: Record<string, (ctx: TaskContext<unknown>) => Promise<unknown>> = {
  postgres: ({ db }) => db.execute(sql`select 1`),
  telegram: ({ api }) => api.getMe(),
  remnawave: ({ config }) => (config.REMNAWAVE_URL ? remnawave(config).health() : Promise.resolve(OFF)),
  cryptobot: ({ config }) => (config.CRYPTOBOT_TOKEN ? cryptoPay(config).getMe() : Promise.resolve(OFF)),
};

/**
 * Every minute: the panel, Postgres, Telegram `getMe` and CryptoBot (how fast each answered is kept
 * per day). Three failures in a row → the service's outage incident becomes CRITICAL (one alert, or
 * one escalation if the jobs it broke opened it); one "resolved" when the service answers again. If
 * Postgres itself is down its failures cannot be counted: that is logged, and the others go on.
 */
export const checkServicesTask = defineTask({
  name: 'check_services',
  args: z.object({}).strict(),
  // Every minute, with its own count of failures in a row: a retry would overlap the next run.
  retry: { maxAttempts: 1, backoffSeconds: [0] },
  onExhausted: 'skip',
  handler: async (ctx) => {
    const results = await Promise.all(
      Object.entries(probes).map(async ([service, probe]) => {
        const started = Date.now();
        try {
          if ((await probe(ctx)) === OFF) return { service, ok: true as const, off: true };
          return { service, ok: true as const, ms: Date.now() - started };
        } catch (err) {
          return { service, ok: false as const, error: errorMessage(err) };
        }
      }),
    );
    const report: Record<string, string> = {};
    for (const r of results) {
      if ('off' in r) {
        report[r.service] = 'off';
        continue;
      }
      try {
        report[r.service] = await record(ctx, r.service, r.ok ? undefined : r.error);
        if ('ms' in r && r.ms !== undefined) await recordLatency(ctx.db, r.service, r.ms);
      } catch (err) {
        ctx.log.error('service_health_store_unavailable', { service: r.service, ok: r.ok, error: errorMessage(err) });
        report[r.service] = r.ok ? 'up' : 'failing';
      }
    }
    return report;
  },
});

/**
 * Counts a check's outcome. From the third failure in a row every failure is an occurrence of the
 * service's outage incident (CRITICAL: alerted once); a pass after it resolves the incident (one
 * "resolved"), and a pass also resolves an outage the jobs opened once they have been quiet a while.
 */
async function record({ db, api, config, env, log }: TaskContext<unknown>, service: string, error: string | undefined): Promise<string> {
  const t = serviceHealthTable;
  const alerts = { env, api, config };
  const what = `<b>${service}</b> answers again`;
  if (error === undefined) {
    const [was] = await db.select().from(t).where(eq(t.service, service));
    if (was?.down) {
      const won = await db
        .update(t)
        .set({ failures: 0, down: false, lastError: null, changedAt: sql`now()` })
        .where(sql`${t.service} = ${service} and ${t.down}`)
        .returning();
      if (won.length) await resolveIncident(alerts, log, outageKey(service), what);
    } else {
      if (was?.failures) await db.update(t).set({ failures: 0 }).where(eq(t.service, service));
      await resolveIncident(alerts, log, outageKey(service), what, OUTAGE_QUIET_MS);
    }
    return 'up';
  }
  const [row] = await db
    .insert(t)
    .values({ service, failures: 1, lastError: error })
    .onConflictDoUpdate({ target: t.service, set: { failures: sql`${t.failures} + 1`, lastError: error } })
    .returning();
  const failures = row?.failures ?? 0;
  if (failures < FAILURES_TO_ALERT) return 'failing';
  if (!row?.down) await markDown(db, service);
  await raiseIncident(alerts, log, {
    key: outageKey(service),
    severity: 'critical',
    title: `<b>${service}</b> is down`,
    detail: `${failures} checks in a row failed: ${escapeHtml(error.slice(0, 200))}\nOne message when it answers again.`,
  });
  return 'down';
}

/** Adds one answer time to the service's day. */
async function recordLatency(db: Db, service: string, ms: number): Promise<void> {
  const l = serviceLatencyTable;
  await db
    .insert(l)
    .values({ service, day: sql`current_date`, checks: 1, totalMs: ms, maxMs: ms })
    .onConflictDoUpdate({
      target: [l.service, l.day],
      set: { checks: sql`${l.checks} + 1`, totalMs: sql`${l.totalMs} + ${ms}`, maxMs: sql`greatest(${l.maxMs}, ${ms})` },
    });
}

async function markDown(db: Db, service: string): Promise<boolean> {
  const t = serviceHealthTable;
  const won = await db
    .update(t)
    .set({ down: true, changedAt: sql`now()` })
    .where(sql`${t.service} = ${service} and not ${t.down}`)
    .returning();
  return won.length > 0;
}

export const monitoringTasks = [checkNodeHealthTask, checkServicesTask];
