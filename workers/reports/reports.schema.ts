import { boolean, doublePrecision, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

/** Anomalies watched every 5 minutes: whether each is active now, so each is alerted once and resolved once. */
export const anomaliesTable = pgTable('anomalies', {
  kind: text('kind').primaryKey(),
  active: boolean('active').notNull().default(false),
  value: doublePrecision('value'),
  changedAt: timestamp('changed_at', { withTimezone: true }).notNull().defaultNow(),
});
