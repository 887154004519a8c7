import { and, eq, lt, sql } from 'drizzle-orm';
import type { Db } from '../core/db';
import { auditLogsTable, type Payment, paymentsTable, webhookLogsTable } from './payments.schema';

export async function findPaymentByInvoice(db: Db, invoiceId: number): Promise<Payment | undefined> {
  const [row] = await db
    .select()
    .from(paymentsTable)
    .where(and(eq(paymentsTable.provider, 'cryptobot'), eq(paymentsTable.invoiceId, invoiceId)));
  return row;
}

/** Fixes the expiry a payment sets on its first try; later tries get the same value back. */
export async function fixTargetExpiry(db: Db, id: string, target: Date): Promise<Date> {
  const [row] = await db
    .update(paymentsTable)
    .set({ targetExpireAt: sql`coalesce(${paymentsTable.targetExpireAt}, ${target.toISOString()}::timestamptz)` })
    .where(eq(paymentsTable.id, id))
    .returning({ target: paymentsTable.targetExpireAt });
  return row?.target ?? target;
}

/** Moves a pending payment on; false when it was not pending any more (another run got there first). */
export async function finishPayment(db: Db, id: string, status: 'completed' | 'failed' | 'mismatch', error?: string): Promise<boolean> {
  const rows = await db
    .update(paymentsTable)
    .set({ status, error: error ?? null, completedAt: status === 'completed' ? sql`now()` : null })
    .where(and(eq(paymentsTable.id, id), eq(paymentsTable.status, 'pending')))
    .returning({ id: paymentsTable.id });
  return rows.length > 0;
}

export async function audit(
  db: Db,
  action: string,
  entity: string,
  entityId: string | number,
  details: Record<string, unknown>,
): Promise<void> {
  await db.insert(auditLogsTable).values({ action, entity, entityId: String(entityId), details });
}

/** Logs a valid webhook once per event; returns its row and whether it was new. */
export async function logWebhook(db: Db, provider: string, eventKey: string, body: unknown) {
  const [inserted] = await db
    .insert(webhookLogsTable)
    .values({ provider, eventKey, body })
    .onConflictDoNothing({ target: [webhookLogsTable.provider, webhookLogsTable.eventKey] })
    .returning();
  if (inserted) return { log: inserted, fresh: true };
  const [existing] = await db
    .select()
    .from(webhookLogsTable)
    .where(and(eq(webhookLogsTable.provider, provider), eq(webhookLogsTable.eventKey, eventKey)));
  return { log: existing, fresh: false };
}

export async function markWebhookProcessed(db: Db, provider: string, eventKey: string, error?: string): Promise<void> {
  await db
    .update(webhookLogsTable)
    .set(error ? { error, attempts: sql`${webhookLogsTable.attempts} + 1` } : { processedAt: sql`now()`, error: null })
    .where(and(eq(webhookLogsTable.provider, provider), eq(webhookLogsTable.eventKey, eventKey)));
}

/** Pending payments created since `since`. */
export async function pendingPayments(db: Db, since: Date): Promise<Payment[]> {
  return db
    .select()
    .from(paymentsTable)
    .where(and(eq(paymentsTable.status, 'pending'), sql`${paymentsTable.createdAt} >= ${since.toISOString()}::timestamptz`));
}

/** Pending payments older than `before`: they expire. */
export async function expirePayments(db: Db, before: Date): Promise<Payment[]> {
  return db
    .update(paymentsTable)
    .set({ status: 'failed', error: 'not paid within 24 hours' })
    .where(and(eq(paymentsTable.status, 'pending'), lt(paymentsTable.createdAt, before)))
    .returning();
}
