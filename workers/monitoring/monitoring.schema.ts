import { sql } from 'drizzle-orm';
import { bigint, boolean, check, date, index, integer, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';

export const nodeStatuses = ['online', 'offline', 'warning', 'maintenance'] as const;
export type NodeStatus = (typeof nodeStatuses)[number];

/** The last known status of each panel node, and whether its outage was escalated. */
export const nodeHealthTable = pgTable(
  'node_health',
  {
    nodeUuid: uuid('node_uuid').primaryKey(),
    name: text('name').notNull(),
    status: text('status', { enum: nodeStatuses }).notNull(),
    /** Since when it has this status. */
    since: timestamp('since', { withTimezone: true }).notNull().defaultNow(),
    checkedAt: timestamp('checked_at', { withTimezone: true }).notNull().defaultNow(),
    /** The CRITICAL alert of this outage went out (offline for more than 5 minutes). */
    escalated: boolean('escalated').notNull().default(false),
  },
  (t) => [check('node_health_status_check', sql`${t.status} in ('online', 'offline', 'warning', 'maintenance')`)],
);

/** Every status change of a node, with where it was seen (the poll or the panel's webhook). */
export const nodeHealthHistoryTable = pgTable(
  'node_health_history',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    nodeUuid: uuid('node_uuid').notNull(),
    fromStatus: text('from_status'),
    toStatus: text('to_status').notNull(),
    source: text('source').notNull(),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('node_health_history_node_idx').on(t.nodeUuid, t.at)],
);

/** External services checked every minute: failures in a row, and whether they are reported down. */
export const serviceHealthTable = pgTable('service_health', {
  service: text('service').primaryKey(),
  failures: integer('failures').notNull().default(0),
  down: boolean('down').notNull().default(false),
  lastError: text('last_error'),
  changedAt: timestamp('changed_at', { withTimezone: true }).notNull().defaultNow(),
});

/** How fast each checked service answered, per UTC day: the weekly report's average panel latency. Kept 90 days. */
export const serviceLatencyTable = pgTable(
  'service_latency',
  {
    service: text('service').notNull(),
    day: date('day').notNull(),
    /** Successful checks that day. */
    checks: integer('checks').notNull().default(0),
    totalMs: bigint('total_ms', { mode: 'number' }).notNull().default(0),
    maxMs: integer('max_ms').notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.service, t.day] })],
);
