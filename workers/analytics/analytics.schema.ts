import { bigint, date, integer, jsonb, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';

/** Every 5 minutes per node: its traffic counter and what it carried since the previous snapshot. Kept 48 h. */
export const bandwidthSnapshotsTable = pgTable(
  'bandwidth_snapshots',
  {
    nodeUuid: text('node_uuid').notNull(),
    at: timestamp('at', { withTimezone: true }).notNull(),
    trafficBytes: bigint('traffic_bytes', { mode: 'number' }).notNull(),
    /** Bytes since the previous snapshot (the counter itself after a reset). */
    deltaBytes: bigint('delta_bytes', { mode: 'number' }).notNull(),
    usersOnline: integer('users_online').notNull(),
  },
  (t) => [primaryKey({ columns: [t.nodeUuid, t.at] })],
);

/** Hourly aggregates of the snapshots' deltas per node. Kept 30 days. */
export const bandwidthHourlyTable = pgTable(
  'bandwidth_hourly',
  {
    nodeUuid: text('node_uuid').notNull(),
    hour: timestamp('hour', { withTimezone: true }).notNull(),
    sumBytes: bigint('sum_bytes', { mode: 'number' }).notNull(),
    avgBytes: bigint('avg_bytes', { mode: 'number' }).notNull(),
    maxBytes: bigint('max_bytes', { mode: 'number' }).notNull(),
    minBytes: bigint('min_bytes', { mode: 'number' }).notNull(),
    samples: integer('samples').notNull(),
  },
  (t) => [primaryKey({ columns: [t.nodeUuid, t.hour] })],
);

/** One row per UTC day: users by status, new users, bandwidth, revenue by plan, admin operations. Kept 90 days. */
export const dailyStatsTable = pgTable('daily_stats', {
  day: date('day').primaryKey(),
  stats: jsonb('stats').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});
