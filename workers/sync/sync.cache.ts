import { sql } from 'drizzle-orm';
import type { Db } from '../core/db';
import { cacheEntriesTable } from './sync.schema';

/** Keys of the panel data cached here, read by the dashboard and the reports. */
export const PANEL_STATS_KEY = 'panel:stats';
export const PANEL_NODES_KEY = 'panel:nodes';
/**
 * Seconds a cached value lives: longer than its refresh (10 and 30 min), so one late or failed
 * refresh (retried 2 min apart) leaves the readers the previous value rather than nothing (the seed's 15 and 35 min).
 */
export const PANEL_STATS_TTL_SECONDS = 15 * 60;
export const PANEL_NODES_TTL_SECONDS = 35 * 60;

/** Stores `value` under `key` until `ttlSeconds` from now. */
export async function cachePut(db: Db, key: string, value: unknown, ttlSeconds: number): Promise<void> {
  const expiresAt = sql`now() + make_interval(secs => ${ttlSeconds})`;
  await db
    .insert(cacheEntriesTable)
    .values({ key, value, expiresAt })
    .onConflictDoUpdate({ target: cacheEntriesTable.key, set: { value, expiresAt, updatedAt: sql`now()` } });
}

/** The value under `key` unless it expired. */
export async function cacheGet<T>(db: Db, key: string): Promise<T | undefined> {
  const result = await db.execute<{ value: T }>(sql`select value from ${cacheEntriesTable} where key = ${key} and expires_at > now()`);
  return result.rows[0]?.value;
}
