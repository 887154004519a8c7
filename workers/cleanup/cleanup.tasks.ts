import { type SQL, sql } from 'drizzle-orm';
import type { PgTable } from 'drizzle-orm/pg-core';
import { z } from 'zod';
import type { Db } from '../core/db';
import { notificationQueueTable } from '../notifications/notifications.schema';
import { auditLogsTable, webhookLogsTable } from '../payments/payments.schema';
import { defineTask } from '../tasks/task';

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

/** The seed's cleanup policy: 2 tries, 5 minutes apart (a failure is only logged). */
const retry = { maxAttempts: 2, backoffSeconds: [300] };

export const cleanupAuditLogsTask = defineTask({
  name: 'cleanup_audit_logs',
  args: z.object({}).strict(),
  retry,
  timeoutSeconds: 600,
  handler: async ({ db, config, log }) => {
    const removed = await deleteInBatches(
      db,
      auditLogsTable,
      sql`${auditLogsTable.createdAt} < now() - make_interval(days => ${config.CLEANUP_AUDIT_RETENTION_DAYS})`,
    );
    log.info('cleanup_done', { table: 'audit_logs', removed, retention_days: config.CLEANUP_AUDIT_RETENTION_DAYS });
    return { removed };
  },
});

export const cleanupWebhookLogsTask = defineTask({
  name: 'cleanup_webhook_logs',
  args: z.object({}).strict(),
  retry,
  timeoutSeconds: 600,
  handler: async ({ db, config, log }) => {
    const removed = await deleteInBatches(
      db,
      webhookLogsTable,
      sql`${webhookLogsTable.createdAt} < now() - make_interval(days => ${config.CLEANUP_WEBHOOK_RETENTION_DAYS})`,
    );
    log.info('cleanup_done', { table: 'webhook_logs', removed, retention_days: config.CLEANUP_WEBHOOK_RETENTION_DAYS });
    return { removed };
  },
});

/** Sent and failed notifications are kept 7 days; pending ones are never removed. */
export const cleanupNotificationsTask = defineTask({
  name: 'cleanup_notifications',
  args: z.object({}).strict(),
  retry,
  timeoutSeconds: 600,
  handler: async ({ db, log }) => {
    const q = notificationQueueTable;
    const removed = await deleteInBatches(db, q, sql`${q.status} <> 'pending' and ${q.createdAt} < now() - interval '7 days'`);
    log.info('cleanup_done', { table: 'notification_queue', removed, retention_days: 7 });
    return { removed };
  },
});

export const cleanupTasks = [cleanupAuditLogsTask, cleanupWebhookLogsTask, cleanupNotificationsTask];
