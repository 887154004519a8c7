import { type SQL, sql } from 'drizzle-orm';
import type { AnyPgColumn, PgTable } from 'drizzle-orm/pg-core';
import { z } from 'zod';
import type { Config } from '../core/config';
import type { Db } from '../core/db';
import { notificationBatchesTable, notificationQueueTable } from '../notifications/notifications.schema';
import { auditLogsTable, webhookLogsTable } from '../payments/payments.schema';
import { defineTask, seedPolicies } from '../tasks/task';

const BATCH = 1000;

/** Deletes the rows matching `where`, 1,000 per statement, so no statement holds many locks; returns the count. */
export async function deleteInBatches(db: Db, table: PgTable, where: SQL): Promise<number> {
  let removed = 0;
  for (;;) {
    const result = await db.execute<{ n: number }>(sql`
      with gone as (delete from ${table} where ctid in (select ctid from ${table} where ${where} limit ${BATCH}) returning 1)
      select count(*)::int as n from gone`);
    const n = result.rows[0]?.n ?? 0;
    removed += n;
    if (n < BATCH) return removed;
  }
}

/**
 * A retention job: deletes the rows of `table` older than `days(config)` days (and matching `also`),
 * 1,000 per statement, and logs how many went.
 */
function retentionTask(name: string, table: PgTable & { createdAt: AnyPgColumn }, label: string, days: (c: Config) => number, also?: SQL) {
  return defineTask({
    name,
    args: z.object({}).strict(),
    // The seed's cleanup policy: 2 retries, 5 minutes apart; then a warning in the log.
    retry: seedPolicies.cleanup,
    onExhausted: 'warn',
    timeoutSeconds: 600,
    handler: async ({ db, config, log }) => {
      const retention = days(config);
      const old = sql`${table.createdAt} < now() - make_interval(days => ${retention})`;
      const removed = await deleteInBatches(db, table, also ? sql`${also} and ${old}` : old);
      log.info('cleanup_done', { table: label, removed, retention_days: retention });
      return { removed };
    },
  });
}

const cleanupAuditLogsTask = retentionTask('cleanup_audit_logs', auditLogsTable, 'audit_logs', (c) => c.CLEANUP_AUDIT_RETENTION_DAYS);
/** Processed ones only (the seed's rule): one never processed is the evidence of what did not go through. */
const cleanupWebhookLogsTask = retentionTask(
  'cleanup_webhook_logs',
  webhookLogsTable,
  'webhook_logs',
  (c) => c.CLEANUP_WEBHOOK_RETENTION_DAYS,
  sql`${webhookLogsTable.processedAt} is not null`,
);
/** Sent and failed notifications are kept 7 days; pending ones are never removed. */
const notificationRetention = retentionTask(
  'cleanup_notifications',
  notificationQueueTable,
  'notification_queue',
  () => 7,
  sql`${notificationQueueTable.status} <> 'pending'`,
);
/** …and with them the bulk sends (their shared text and counters) none of whose rows still waits. */
const cleanupNotificationsTask = {
  ...notificationRetention,
  handler: async (ctx: Parameters<typeof notificationRetention.handler>[0]) => {
    const result = await notificationRetention.handler(ctx);
    const b = notificationBatchesTable;
    const batches = await deleteInBatches(
      ctx.db,
      b,
      sql`${b.createdAt} < now() - interval '7 days' and not exists (
        select 1 from ${notificationQueueTable} q where q.batch_id = ${b.id} and q.status = 'pending')`,
    );
    return { ...result, batches };
  },
};

export const cleanupTasks = [cleanupAuditLogsTask, cleanupWebhookLogsTask, cleanupNotificationsTask];
