import { env } from 'cloudflare:workers';
import { eq, inArray, sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { dashboard } from '../../durable-objects/dashboard/dashboard.do';
import { nodeHealthHistoryTable, serviceLatencyTable } from '../monitoring/monitoring.schema';
import { subscriptionRemindersTable } from '../subscriptions/subscriptions.schema';
import { withTestDb } from '../testing/db';
import { kickOverHttp, runWithStatus } from '../testing/runs';
import { cacheGet, cachePut } from './sync.cache';
import { cacheEntriesTable, serverLocationsTable } from './sync.schema';

const run = async (task: string) => (await runWithStatus(await kickOverHttp(task), 'succeeded')).result as Record<string, unknown>;
const setNode = async (node: Record<string, unknown>) =>
  expect((await fetch(`${env.REMNAWAVE_URL}/__control/nodes`, { method: 'POST', body: JSON.stringify(node) })).ok).toBe(true);

describe('sync', () => {
  it('places nodes by their country and lists the countries it does not know', async () => {
    const de = crypto.randomUUID();
    const xx = crypto.randomUUID();
    await setNode({ uuid: de, name: 'de-1', countryCode: 'DE', isConnected: true, isDisabled: false, isConnecting: false });
    await setNode({ uuid: xx, name: 'xx-1', countryCode: 'XX', isConnected: true, isDisabled: false, isConnecting: false });
    const result = await run('sync_geolocations');
    expect(result.unknown_countries).toContain('XX');
    const [row] = await withTestDb((db) => db.select().from(serverLocationsTable).where(eq(serverLocationsTable.nodeUuid, de)));
    expect(row).toMatchObject({ name: 'de-1', countryCode: 'DE', latitude: 51.2, longitude: 10.5 });
    // Upserted: a second run changes the name, not the number of rows.
    await setNode({ uuid: de, name: 'de-renamed', countryCode: 'DE', isConnected: true, isDisabled: false, isConnecting: false });
    await run('sync_geolocations');
    const rows = await withTestDb((db) => db.select().from(serverLocationsTable).where(eq(serverLocationsTable.nodeUuid, de)));
    expect(rows.map((r) => r.name)).toEqual(['de-renamed']);
  });

  it('caches user stats and node configs longer than they are refreshed (15 and 35 min), and the dashboard reads them', async () => {
    expect(await run('sync_user_stats')).toEqual({ cached: 'panel:stats', ttl_seconds: 900 });
    expect(await run('sync_node_configs')).toMatchObject({ cached: 'panel:nodes', ttl_seconds: 2100 });
    const stats = await withTestDb((db) => cacheGet<{ users: { statusCounts: Record<string, number> } }>(db, 'panel:stats'));
    const [nodes] = await withTestDb((db) => db.select().from(cacheEntriesTable).where(eq(cacheEntriesTable.key, 'panel:nodes')));
    // Alive past the next refresh (10 and 30 min), so a late one leaves the readers the last value.
    const ttl = (e: { expiresAt: Date; updatedAt: Date } | undefined) =>
      Math.round(((e?.expiresAt.getTime() ?? 0) - (e?.updatedAt.getTime() ?? 0)) / 60_000);
    const [statsRow] = await withTestDb((db) => db.select().from(cacheEntriesTable).where(eq(cacheEntriesTable.key, 'panel:stats')));
    expect([ttl(statsRow), ttl(nodes)]).toEqual([15, 35]);
    // The dashboard shows the cached figures, not a panel call of its own.
    await withTestDb((db) =>
      cachePut(db, 'panel:nodes', [{ uuid: 'cached-1', name: 'from-the-cache', address: '10.0.0.9', countryCode: 'NL' }], 2100),
    );
    const snap = await dashboard(env).refresh();
    expect(snap.users_by_status).toEqual(stats?.users.statusCounts);
    expect(snap.nodes).toEqual([{ uuid: 'cached-1', name: 'from-the-cache', address: '10.0.0.9', country_code: 'NL' }]);
    await withTestDb(async (db) => {
      await cachePut(db, 'test:stale', { x: 1 }, 60);
      await db
        .update(cacheEntriesTable)
        .set({ expiresAt: sql`now() - interval '1 second'` })
        .where(eq(cacheEntriesTable.key, 'test:stale'));
    });
    expect(await withTestDb((db) => cacheGet(db, 'test:stale'))).toBeUndefined();
    expect((await run('cleanup_cache')).removed).toBe(1);
    expect(await withTestDb((db) => db.select().from(cacheEntriesTable).where(eq(cacheEntriesTable.key, 'test:stale')))).toEqual([]);
  });

  it('prunes node history past 14 days (each node keeps its latest change), old answer times and old reminder records', async () => {
    const [busy, quiet] = [crypto.randomUUID(), crypto.randomUUID()];
    const svc = `prune-${busy.slice(0, 8)}`;
    const panelUser = 990_000_000 + Math.floor(Math.random() * 1_000_000);
    const daysAgo = (d: number) => sql`now() - make_interval(days => ${d})`;
    await withTestDb(async (db) => {
      await db.insert(nodeHealthHistoryTable).values([
        { nodeUuid: busy, toStatus: 'online', source: 'poll', at: daysAgo(20) },
        { nodeUuid: busy, toStatus: 'offline', source: 'poll', at: daysAgo(16) },
        { nodeUuid: busy, toStatus: 'online', source: 'poll', at: daysAgo(13) },
        { nodeUuid: quiet, toStatus: 'online', source: 'poll', at: daysAgo(30) },
      ]);
      await db.insert(serviceLatencyTable).values([
        { service: svc, day: sql`current_date - 100`, checks: 1, totalMs: 5, maxMs: 5 },
        { service: svc, day: sql`current_date - 10`, checks: 1, totalMs: 5, maxMs: 5 },
      ]);
      await db.insert(subscriptionRemindersTable).values([
        { panelUserId: panelUser, bracket: 'expired', expireAt: daysAgo(40) },
        { panelUserId: panelUser, bracket: '24h', expireAt: daysAgo(10) },
      ]);
    });
    await run('cleanup_cache');
    const left = await withTestDb(async (db) => ({
      history: (
        await db
          .select({ node: nodeHealthHistoryTable.nodeUuid, to: nodeHealthHistoryTable.toStatus })
          .from(nodeHealthHistoryTable)
          .where(inArray(nodeHealthHistoryTable.nodeUuid, [busy, quiet]))
          .orderBy(nodeHealthHistoryTable.id)
      ).map((r) => [r.node === busy ? 'busy' : 'quiet', r.to]),
      latency: (await db.select().from(serviceLatencyTable).where(eq(serviceLatencyTable.service, svc))).length,
      reminders: (await db.select().from(subscriptionRemindersTable).where(eq(subscriptionRemindersTable.panelUserId, panelUser))).map(
        (r) => r.bracket,
      ),
    }));
    expect(left).toEqual({
      history: [
        ['busy', 'online'],
        ['quiet', 'online'],
      ],
      latency: 1,
      reminders: ['24h'],
    });
  });
});
