import { bigint, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';
import { campaignsTable } from '../campaigns/campaigns.schema';

/**
 * What an admin is doing in the bot's chat: the draft they work on, and the language whose variant
 * their next post becomes (null: the next post starts a new draft).
 */
export const adminSessionsTable = pgTable('admin_sessions', {
  telegramId: bigint('telegram_id', { mode: 'number' }).primaryKey(),
  campaignId: uuid('campaign_id')
    .notNull()
    .references(() => campaignsTable.id, { onDelete: 'cascade' }),
  awaitingLanguage: text('awaiting_language'),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

export type AdminSession = typeof adminSessionsTable.$inferSelect;
