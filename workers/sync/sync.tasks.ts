import { sql } from 'drizzle-orm';
import { z } from 'zod';
import { remnawave } from '../clients/remnawave';
import { nodeHealthHistoryTable, serviceLatencyTable } from '../monitoring/monitoring.schema';
import { subscriptionRemindersTable } from '../subscriptions/subscriptions.schema';
import { REMINDER_RETENTION_DAYS } from '../subscriptions/subscriptions.service';
import { defineTask, seedPolicies } from '../tasks/task';
import { COUNTRY_CENTRES } from './countries';
import { cachePut, PANEL_NODES_KEY, PANEL_NODES_TTL_SECONDS, PANEL_STATS_KEY, PANEL_STATS_TTL_SECONDS } from './sync.cache';
import { cacheEntriesTable, serverLocationsTable } from './sync.schema';

/** The seed's sync policy: 3 retries, 2 minutes apart; then the next cycle (skip). */
const sync = { retry: seedPolicies.sync, requires: ['panel'], onExhausted: 'skip' } as const;

/** Every 6 hours: each node's country → coordinates, upserted. */
const syncGeolocationsTask = defineTask({
  name: 'sync_geolocations',
  args: z.object({}).strict(),
  ...sync,
  handler: async ({ db, config }) => {
    const nodes = await remnawave(config).nodes();
    if (!nodes.length) return { nodes: 0, unknown_countries: [] };
    const rows = nodes.map((n) => {
      const [latitude, longitude] = COUNTRY_CENTRES[n.countryCode.toUpperCase()] ?? [null, null];
      return { nodeUuid: n.uuid, name: n.name, countryCode: n.countryCode, latitude, longitude };
    });
    await db
      .insert(serverLocationsTable)
      .values(rows)
      .onConflictDoUpdate({
        target: serverLocationsTable.nodeUuid,
        set: {
          name: sql`excluded.name`,
          countryCode: sql`excluded.country_code`,
          latitude: sql`excluded.latitude`,
          longitude: sql`excluded.longitude`,
          updatedAt: sql`now()`,
        },
      });
    return { nodes: rows.length, unknown_countries: [...new Set(rows.filter((r) => r.latitude === null).map((r) => r.countryCode))] };
  },
});

/** Every 10 minutes: the panel's user statistics, cached 15 minutes (the dashboard's users by status, the daily report's active users). */
const syncUserStatsTask = defineTask({
  name: 'sync_user_stats',
  args: z.object({}).strict(),
  ...sync,
  handler: async ({ db, config }) => {
    const stats = await remnawave(config).stats();
    await cachePut(db, PANEL_STATS_KEY, stats, PANEL_STATS_TTL_SECONDS);
    return { cached: PANEL_STATS_KEY, ttl_seconds: PANEL_STATS_TTL_SECONDS };
  },
});

/** Every 30 minutes: the nodes' configuration, cached 35 minutes (the dashboard's node list). */
const syncNodeConfigsTask = defineTask({
  name: 'sync_node_configs',
  args: z.object({}).strict(),
  ...sync,
  handler: async ({ db, config }) => {
    const nodes = await remnawave(config).nodes();
    await cachePut(db, PANEL_NODES_KEY, nodes, PANEL_NODES_TTL_SECONDS);
    return { cached: PANEL_NODES_KEY, nodes: nodes.length, ttl_seconds: PANEL_NODES_TTL_SECONDS };
  },
});

/**
 * Node status changes are kept this long: the weekly report compares a week with the one before
 * (the seed keeps 7 days). The latest change of each node stays, as its status since then.
 */
const NODE_HISTORY_DAYS = 14;
/** Daily answer times of the checked services are kept this long. */
const SERVICE_LATENCY_DAYS = 90;

/**
 * Daily (the seed's stale-data cleanup, 6.5): cache entries past their expiry, node status changes
 * past 14 days, service answer times past 90 days, and reminder records of expiries over 30 days ago.
 */
const cleanupCacheTask = defineTask({
  name: 'cleanup_cache',
  args: z.object({}).strict(),
  retry: seedPolicies.cleanup,
  onExhausted: 'warn',
  handler: async ({ db, log }) => {
    const count = async (q: ReturnType<typeof sql>) => (await db.execute(q)).rowCount ?? 0;
    const removed = await count(sql`delete from ${cacheEntriesTable} where expires_at < now()`);
    const history = await count(sql`
      delete from ${nodeHealthHistoryTable} h where h.at < now() - make_interval(days => ${NODE_HISTORY_DAYS})
        and h.id <> (select max(id) from ${nodeHealthHistoryTable} l where l.node_uuid = h.node_uuid)`);
    const latency = await count(sql`delete from ${serviceLatencyTable} where day < current_date - ${SERVICE_LATENCY_DAYS}::int`);
    const reminders = await count(
      sql`delete from ${subscriptionRemindersTable} where expire_at < now() - make_interval(days => ${REMINDER_RETENTION_DAYS})`,
    );
    log.info('cleanup_done', {
      table: 'cache_entries',
      removed,
      node_health_history: history,
      service_latency: latency,
      subscription_reminders: reminders,
    });
    return { removed, node_health_history: history, service_latency: latency, subscription_reminders: reminders };
  },
});

export const syncTasks = [syncGeolocationsTask, syncUserStatsTask, syncNodeConfigsTask, cleanupCacheTask];
