import { neon, neonConfig } from '@neondatabase/serverless';
import { drizzle, type NeonHttpDatabase } from 'drizzle-orm/neon-http';
import type { Config } from './config';

/**
 * A database handle. Queries go over Neon's SQL-over-HTTP: one fetch per statement (or per `batch`,
 * which runs as one transaction), no socket to open per request and none to close. Built without the relational
 * schema: nothing uses `db.query`, and extracting it would cost every request CPU time.
 */
export type Db = NeonHttpDatabase;

let configuredProxy: string | undefined;
const handles = new Map<string, Db>();

/**
 * A handle on `DATABASE_URL`. It holds no connection (every query is its own request), so one handle
 * per URL serves every request and task run of the isolate without sharing any I/O between them.
 */
export function createDb(config: Pick<Config, 'DATABASE_URL' | 'DATABASE_PROXY'>): Db {
  configureDriver(config.DATABASE_PROXY);
  let db = handles.get(config.DATABASE_URL);
  if (!db) {
    db = drizzle({ client: neon(config.DATABASE_URL) });
    handles.set(config.DATABASE_URL, db);
  }
  return db;
}

/**
 * Points the driver at the local stand-in for Neon's proxy (`tools/db/neon-proxy.ts`) in front of a
 * plain Postgres, or leaves Neon's defaults when no proxy is configured.
 */
function configureDriver(proxy: string): void {
  if (proxy === configuredProxy) return;
  configuredProxy = proxy;
  if (proxy) {
    neonConfig.fetchEndpoint = () => `http://${proxy}/sql`;
  }
}
