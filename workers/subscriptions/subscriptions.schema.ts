import { bigint, boolean, integer, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';

/**
 * Who was told what about their subscription: one row per panel user, bracket (`7d`, `3d`, `24h`,
 * `6h`, `expired`) and expiry, so a message is never repeated across runs, retries and restarts,
 * and a renewed subscription (a new expiry) gets its reminders again.
 */
export const subscriptionRemindersTable = pgTable(
  'subscription_reminders',
  {
    panelUserId: integer('panel_user_id').notNull(),
    bracket: text('bracket').notNull(),
    expireAt: timestamp('expire_at', { withTimezone: true }).notNull(),
    sentAt: timestamp('sent_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.panelUserId, t.bracket, t.expireAt] })],
);

/** Users who renew by themselves: an invoice for `plan` is sent when their expiry is within the hour. */
export const autoRenewalsTable = pgTable('auto_renewals', {
  panelUserId: integer('panel_user_id').primaryKey(),
  telegramId: bigint('telegram_id', { mode: 'number' }).notNull(),
  plan: text('plan').notNull(),
  days: integer('days').notNull(),
  amount: text('amount').notNull(),
  asset: text('asset').notNull(),
  enabled: boolean('enabled').notNull().default(true),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});
