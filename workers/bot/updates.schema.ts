import { bigint, index, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

/** Update ids already handled; Telegram redelivers an update until it gets a 2xx. */
export const telegramUpdatesTable = pgTable(
  'telegram_updates',
  {
    updateId: bigint('update_id', { mode: 'number' }).primaryKey(),
    receivedAt: timestamp('received_at', { withTimezone: true }).notNull().defaultNow(),
  },
  // The cleanup forgets old ids by age, every 10 minutes: not a scan of a week of updates.
  (t) => [index('telegram_updates_received_idx').on(t.receivedAt)],
);

/**
 * Albums an admin posted, by `media_group_id`: each photo of an album is an update of its own, and
 * the admin hears once that albums are not broadcast. Forgotten with the update ids.
 */
export const refusedAlbumsTable = pgTable('refused_albums', {
  mediaGroupId: text('media_group_id').primaryKey(),
  receivedAt: timestamp('received_at', { withTimezone: true }).notNull().defaultNow(),
});
