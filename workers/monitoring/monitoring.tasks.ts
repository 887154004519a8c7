import { eq, sql } from 'drizzle-orm';
import { z } from 'zod';
import { cryptoPay } from '../clients/cryptobot';
import { remnawave } from '../clients/remnawave';
import type { Db } from '../core/db';
import { errorMessage } from '../core/logger';
import { escapeHtml, notifyAdmins } from '../core/telegram';
import { defineTask, type TaskContext } from '../tasks/task';
import { serviceHealthTable } from './monitoring.schema';
import { classify, observeNode } from './nodes';

/**
 * Every 2 minutes: every panel node classified and fed to its state machine (changes stored with
 * history, alerted once; offline > 5 min → CRITICAL). Panel errors: 2 more tries, 15 s apart. When
 * the state store is unavailable the statuses are logged and the run goes on.
 */
export const checkNodeHealthTask = defineTask({
  name: 'check_node_health',
  args: z.object({}).strict(),
  retry: { maxAttempts: 3, backoffSeconds: [15] },
  handler: async ({ db, api, config, log }) => {
    const nodes = await remnawave(config).nodes();
    const counts: Record<string, number> = { online: 0, offline: 0, warning: 0, maintenance: 0 };
    let alerts = 0;
    let stored = true;
    for (const node of nodes) {
      const status = classify(node);
      counts[status] = (counts[status] ?? 0) + 1;
      if (!stored) continue;
      try {
        if ((await observeNode({ db, api, config, log }, node, status, 'poll')).alerted) alerts++;
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

/** The services checked every minute and how. */
/** A probe's answer when its service is not configured (reported `off`, never counted as a failure). */
const OFF = Symbol('off');

const probes: Record<string, (ctx: TaskContext<unknown>) => Promise<unknown>> = {
  postgres: ({ db }) => db.execute(sql`select 1`),
  telegram: ({ api }) => api.getMe(),
  remnawave: ({ config }) => (config.REMNAWAVE_URL ? remnawave(config).health() : Promise.resolve(OFF)),
  cryptobot: ({ config }) => (config.CRYPTOBOT_TOKEN ? cryptoPay(config).getMe() : Promise.resolve(OFF)),
};

/**
 * Every minute: the panel, Postgres, Telegram `getMe` and CryptoBot. Three failures in a row → one
 * CRITICAL alert; one "resolved" when the service answers again. If Postgres itself is down its
 * failures cannot be counted: that is logged, and the others go on.
 */
export const checkServicesTask = defineTask({
  name: 'check_services',
  args: z.object({}).strict(),
  retry: { maxAttempts: 1, backoffSeconds: [60] },
  handler: async (ctx) => {
    const results = await Promise.all(
      Object.entries(probes).map(async ([service, probe]) => {
        try {
          if ((await probe(ctx)) === OFF) return { service, ok: true as const, off: true };
          return { service, ok: true as const };
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
      } catch (err) {
        ctx.log.error('service_health_store_unavailable', { service: r.service, ok: r.ok, error: errorMessage(err) });
        report[r.service] = r.ok ? 'up' : 'failing';
      }
    }
    return report;
  },
});

/** Counts a check's outcome; alerts on the third failure in a row and on recovery after an alert. */
async function record({ db, api, config, log }: TaskContext<unknown>, service: string, error: string | undefined): Promise<string> {
  const t = serviceHealthTable;
  if (error === undefined) {
    const [was] = await db.select().from(t).where(eq(t.service, service));
    if (was?.down) {
      const won = await db
        .update(t)
        .set({ failures: 0, down: false, lastError: null, changedAt: sql`now()` })
        .where(sql`${t.service} = ${service} and ${t.down}`)
        .returning();
      if (won.length) await notifyAdmins(api, config, `✅ Resolved: <b>${service}</b> answers again`, log);
    } else if (was?.failures) {
      await db.update(t).set({ failures: 0 }).where(eq(t.service, service));
    }
    return 'up';
  }
  const [row] = await db
    .insert(t)
    .values({ service, failures: 1, lastError: error })
    .onConflictDoUpdate({ target: t.service, set: { failures: sql`${t.failures} + 1`, lastError: error } })
    .returning();
  if (row && row.failures >= FAILURES_TO_ALERT && !row.down) {
    const won = await markDown(db, service);
    if (won)
      await notifyAdmins(
        api,
        config,
        `🚨 CRITICAL: <b>${service}</b> failed ${row.failures} checks in a row: ${escapeHtml(error.slice(0, 200))}`,
        log,
      );
  }
  return row?.down || (row?.failures ?? 0) >= FAILURES_TO_ALERT ? 'down' : 'failing';
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
