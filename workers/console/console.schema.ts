import { index, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

/**
 * Sign-ins to the web console. The cookie holds a random token; only its SHA-256 is stored, so the
 * table cannot be replayed as cookies. `csrf_token` is the token every form of the session carries.
 */
export const consoleSessionsTable = pgTable(
  'console_sessions',
  {
    tokenHash: text('token_hash').primaryKey(),
    csrfToken: text('csrf_token').notNull(),
    /** Which admin token signed it in (a hash): rotating ADMIN_API_TOKEN ends every session. */
    adminTokenTag: text('admin_token_tag').notNull().default(''),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
  },
  (t) => [index('console_sessions_expires_idx').on(t.expiresAt)],
);

export type ConsoleSession = typeof consoleSessionsTable.$inferSelect;
