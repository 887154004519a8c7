import { sql } from 'drizzle-orm';
import { z } from 'zod';
import { remnawave } from '../clients/remnawave';
import { instant } from '../core/openapi';
import { revenueBetween } from '../payments/payments.repo';
import { auditLogsTable } from '../payments/payments.schema';
import { defineTask, seedPolicies } from '../tasks/task';
import { usersTable } from '../users/users.schema';
import { bandwidthHourlyTable, bandwidthSnapshotsTable, dailyStatsTable } from './analytics.schema';

/** The seed's analytics policy: one retry at once, then skipped (the next run comes). */
const analytics = { retry: seedPolicies.analytics, onExhausted: 'skip' } as const;

/** Every 5 minutes: one snapshot per node, with the bytes it carried since its previous one. */
const collectBandwidthTask = defineTask({
  name: 'collect_bandwidth',
  args: z.object({}).strict(),
  ...analytics,
  requires: ['panel'],
  handler: async ({ db, config }) => {
    const nodes = await remnawave(config).nodes();
    if (!nodes.length) return { nodes: 0 };
    const s = bandwidthSnapshotsTable;
    const values = sql.join(
      nodes.map((n) => sql`(${n.uuid}, ${Number(n.trafficUsedBytes ?? 0)}::bigint, ${Number(n.usersOnline ?? 0)}::int)`),
      sql`, `,
    );
    // The delta against each node's previous snapshot, in the same statement; a counter that went
    // down was reset, and what it shows now is the delta.
    await db.execute(sql`
      insert into ${s} (node_uuid, at, traffic_bytes, delta_bytes, users_online)
      select v.node_uuid, now(), v.traffic,
             case when prev.traffic_bytes is null then 0
                  when v.traffic >= prev.traffic_bytes then v.traffic - prev.traffic_bytes
                  else v.traffic end,
             v.online
      from (values ${values}) as v(node_uuid, traffic, online)
      left join lateral (
        select traffic_bytes from ${s} p where p.node_uuid = v.node_uuid order by p.at desc limit 1) prev on true
      on conflict (node_uuid, at) do nothing`);
    return { nodes: nodes.length };
  },
});

/** Hourly at :05: the previous hour's snapshots → sum/avg/max/min per node; raw points past 48 h and hours past 30 days removed. */
const aggregateBandwidthTask = defineTask({
  name: 'aggregate_bandwidth',
  args: z.object({ hour: instant().optional() }).strict(),
  ...analytics,
  handler: async ({ args, db }) => {
    const hour = args.hour ?? new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000 - 3_600_000).toISOString();
    const s = bandwidthSnapshotsTable;
    const h = bandwidthHourlyTable;
    const aggregated = await db.execute<{ n: number }>(sql`
      with agg as (
        insert into ${h} (node_uuid, hour, sum_bytes, avg_bytes, max_bytes, min_bytes, samples)
        select node_uuid, ${hour}::timestamptz, sum(delta_bytes), round(avg(delta_bytes)), max(delta_bytes), min(delta_bytes), count(*)
        from ${s} where at >= ${hour}::timestamptz and at < ${hour}::timestamptz + interval '1 hour'
        group by node_uuid
        on conflict (node_uuid, hour) do update set sum_bytes = excluded.sum_bytes, avg_bytes = excluded.avg_bytes,
          max_bytes = excluded.max_bytes, min_bytes = excluded.min_bytes, samples = excluded.samples
        returning 1)
      select count(*)::int as n from agg`);
    const raw = await db.execute(sql`delete from ${s} where at < now() - interval '48 hours'`);
    const hours = await db.execute(sql`delete from ${h} where hour < now() - interval '30 days'`);
    return { hour, nodes: aggregated.rows[0]?.n ?? 0, removed_snapshots: raw.rowCount ?? 0, removed_hours: hours.rowCount ?? 0 };
  },
});

/**
 * Daily at 00:05 UTC: yesterday's figures into `daily_stats` (kept 90 days). Revenue is summed from
 * `payments` here: `payment_daily_stats` is written at 00:30, after this runs.
 */
const dailyStatsTask = defineTask({
  name: 'daily_stats',
  args: z.object({ day: z.iso.date().optional() }).strict(),
  ...analytics,
  handler: async ({ args, db, config }) => {
    const day = args.day ?? new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    const byStatus: Record<string, number> = {};
    if (config.REMNAWAVE_URL) for (const u of await remnawave(config).allUsers()) byStatus[u.status] = (byStatus[u.status] ?? 0) + 1;
    const [row] = (
      await db.execute<{ new_users: number; bandwidth: string; operations: number }>(sql`
        select
          (select count(*)::int from ${usersTable} where created_at >= ${day}::date and created_at < ${day}::date + 1) as new_users,
          (select coalesce(sum(sum_bytes), 0)::text from ${bandwidthHourlyTable} where hour >= ${day}::date and hour < ${day}::date + 1) as bandwidth,
          (select count(*)::int from ${auditLogsTable} where created_at >= ${day}::date and created_at < ${day}::date + 1) as operations`)
    ).rows;
    const start = new Date(`${day}T00:00:00Z`);
    const revenue = await revenueBetween(db, start, new Date(start.getTime() + 86_400_000));
    const stats = {
      users_by_status: byStatus,
      new_users: row?.new_users ?? 0,
      bandwidth_bytes: Number(row?.bandwidth ?? 0),
      revenue,
      admin_operations: row?.operations ?? 0,
    };
    await db
      .insert(dailyStatsTable)
      .values({ day, stats })
      .onConflictDoUpdate({ target: dailyStatsTable.day, set: { stats, createdAt: sql`now()` } });
    await db.execute(sql`delete from ${dailyStatsTable} where day < current_date - 90`);
    return { day, stats };
  },
});

export const analyticsTasks = [collectBandwidthTask, aggregateBandwidthTask, dailyStatsTask];
