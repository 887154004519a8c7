import { sql } from 'drizzle-orm';
import { bigint, boolean, index, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

/** Everyone who ever wrote to the bot. `is_active = false` once they block it. */
export const usersTable = pgTable(
  'users',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    telegramId: bigint('telegram_id', { mode: 'number' }).notNull().unique(),
    username: text('username'),
    fullName: text('full_name').notNull(),
    languageCode: text('language_code'),
    isActive: boolean('is_active').notNull().default(true),
    blockedAt: timestamp('blocked_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('users_active_id_idx').on(t.id).where(sql`is_active`)],
);

export type User = typeof usersTable.$inferSelect;
