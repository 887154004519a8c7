import { env } from 'cloudflare:workers';
import { eq, sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { withTestDb } from '../testing/db';
import { kickOverHttp, runWithStatus } from '../testing/runs';
import { cacheEntriesTable, serverLocationsTable } from './sync.schema';
import { cacheGet, cachePut } from './sync.tasks';

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

  it('caches user stats and node configs with their TTLs, and removes stale entries', async () => {
    expect(await run('sync_user_stats')).toEqual({ cached: 'panel:stats', ttl_seconds: 600 });
    expect(await run('sync_node_configs')).toMatchObject({ cached: 'panel:nodes', ttl_seconds: 1800 });
    const stats = await withTestDb((db) => cacheGet<{ users: unknown }>(db, 'panel:stats'));
    expect(stats).toHaveProperty('users');
    const [nodes] = await withTestDb((db) => db.select().from(cacheEntriesTable).where(eq(cacheEntriesTable.key, 'panel:nodes')));
    expect((nodes?.expiresAt.getTime() ?? 0) - Date.now()).toBeGreaterThan(1700_000);
    await withTestDb(async (db) => {
      await cachePut(db, 'test:stale', { x: 1 }, 60);
      await db
        .update(cacheEntriesTable)
        .set({ expiresAt: sql`now() - interval '1 second'` })
        .where(eq(cacheEntriesTable.key, 'test:stale'));
    });
    expect(await withTestDb((db) => cacheGet(db, 'test:stale'))).toBeUndefined();
    expect((await run('cleanup_cache')).removed).toBeGreaterThanOrEqual(1);
    expect(await withTestDb((db) => db.select().from(cacheEntriesTable).where(eq(cacheEntriesTable.key, 'test:stale')))).toEqual([]);
  });
});
