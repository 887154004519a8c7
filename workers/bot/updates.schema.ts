import { bigint, pgTable, timestamp } from 'drizzle-orm/pg-core';

/** Update ids already handled; Telegram redelivers an update until it gets a 2xx. */
export const telegramUpdatesTable = pgTable('telegram_updates', {
  updateId: bigint('update_id', { mode: 'number' }).primaryKey(),
  receivedAt: timestamp('received_at', { withTimezone: true }).notNull().defaultNow(),
});
