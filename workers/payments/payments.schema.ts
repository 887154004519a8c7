import { sql } from 'drizzle-orm';
import { bigint, boolean, check, date, index, integer, jsonb, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';

export const paymentStatuses = ['pending', 'completed', 'failed', 'mismatch'] as const;
export type PaymentStatus = (typeof paymentStatuses)[number];

/** A payment for a subscription: one CryptoBot invoice that, once paid, extends a panel user. */
export const paymentsTable = pgTable(
  'payments',
  {
    id: uuid('id').primaryKey().default(sql`gen_random_uuid()`),
    provider: text('provider').notNull().default('cryptobot'),
    invoiceId: bigint('invoice_id', { mode: 'number' }).notNull(),
    telegramId: bigint('telegram_id', { mode: 'number' }),
    remnawaveUserId: integer('remnawave_user_id').notNull(),
    plan: text('plan').notNull(),
    days: integer('days').notNull(),
    /** Decimal string, as the API takes it. */
    amount: text('amount').notNull(),
    asset: text('asset').notNull(),
    payUrl: text('pay_url'),
    status: text('status', { enum: paymentStatuses }).notNull().default('pending'),
    /** The expiry this payment sets, fixed on its first activation try: repeating the activation is harmless. */
    targetExpireAt: timestamp('target_expire_at', { withTimezone: true }),
    error: text('error'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    completedAt: timestamp('completed_at', { withTimezone: true }),
  },
  (t) => [
    uniqueIndex('payments_invoice_idx').on(t.provider, t.invoiceId),
    index('payments_pending_idx').on(t.createdAt).where(sql`${t.status} = 'pending'`),
    index('payments_panel_user_idx').on(t.remnawaveUserId),
    check('payments_status_check', sql`${t.status} in ('pending', 'completed', 'failed', 'mismatch')`),
  ],
);
export type Payment = typeof paymentsTable.$inferSelect;

/**
 * Who is changing a panel user's expiry now: a payment's activation reads the expiry, fixes its
 * target and writes it while it holds the lease, so two payments of one user extend it twice, never
 * from the same old expiry. A lease outlives a holder that died by `until` at most.
 */
export const panelUserLeasesTable = pgTable('panel_user_leases', {
  panelUserId: integer('panel_user_id').primaryKey(),
  holder: uuid('holder').notNull(),
  until: timestamp('until', { withTimezone: true }).notNull(),
});

/** Every provider webhook with a valid signature, once per event (CryptoBot: per invoice). */
export const webhookLogsTable = pgTable(
  'webhook_logs',
  {
    id: uuid('id').primaryKey().default(sql`gen_random_uuid()`),
    provider: text('provider').notNull(),
    eventKey: text('event_key').notNull(),
    body: jsonb('body').notNull(),
    isValid: boolean('is_valid').notNull().default(true),
    attempts: integer('attempts').notNull().default(0),
    processedAt: timestamp('processed_at', { withTimezone: true }),
    error: text('error'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('webhook_logs_event_idx').on(t.provider, t.eventKey), index('webhook_logs_created_idx').on(t.createdAt)],
);

/** What the system did to users and payments, for people to read later. */
export const auditLogsTable = pgTable(
  'audit_logs',
  {
    id: uuid('id').primaryKey().default(sql`gen_random_uuid()`),
    action: text('action').notNull(),
    entity: text('entity').notNull(),
    entityId: text('entity_id').notNull(),
    details: jsonb('details').notNull().default({}),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('audit_logs_created_idx').on(t.createdAt), index('audit_logs_entity_idx').on(t.entity, t.entityId)],
);

/** Completed payments of one UTC day, aggregated for the reports. */
export const paymentDailyStatsTable = pgTable('payment_daily_stats', {
  day: date('day').primaryKey(),
  /** `{ count, revenue: {asset: sum}, average: {asset: avg}, by_plan: {plan: n}, by_provider: {provider: n} }` */
  stats: jsonb('stats').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});
