import { doublePrecision, jsonb, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

/** Where each panel node is, from its country code (a static map): for maps in reports and the console. */
export const serverLocationsTable = pgTable('server_locations', {
  nodeUuid: text('node_uuid').primaryKey(),
  name: text('name').notNull(),
  countryCode: text('country_code').notNull(),
  latitude: doublePrecision('latitude'),
  longitude: doublePrecision('longitude'),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

/** Values copied from the panel with a time to live (the seed kept them in Redis). */
export const cacheEntriesTable = pgTable('cache_entries', {
  key: text('key').primaryKey(),
  value: jsonb('value').notNull(),
  expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});
