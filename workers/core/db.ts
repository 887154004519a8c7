import { neon, neonConfig } from '@neondatabase/serverless';
import { drizzle, type NeonHttpQueryResultHKT } from 'drizzle-orm/neon-http';
import type { PgDatabase } from 'drizzle-orm/pg-core';
import type { Config } from './config';

/**
 * A database handle. Queries go over Neon's SQL-over-HTTP: one fetch per statement (or per `batch`,
 * which runs as one transaction), no socket to open per request and none to close, so a handle can be
 * made per request or per task run for free and never crosses requests. Built without the relational
 * schema: nothing uses `db.query`, and extracting it would cost every request CPU time.
 */
export type Db = PgDatabase<NeonHttpQueryResultHKT>;

let configuredProxy: string | undefined;

/** A fresh handle on `DATABASE_URL`. */
export function createDb(config: Pick<Config, 'DATABASE_URL' | 'DATABASE_PROXY'>): Db {
  configureDriver(config.DATABASE_PROXY);
  return drizzle({ client: neon(config.DATABASE_URL) });
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
    neonConfig.wsProxy = (host, port) => `${proxy}/v1?address=${host}:${port}`;
    neonConfig.useSecureWebSocket = false;
    neonConfig.pipelineTLS = false;
    neonConfig.pipelineConnect = false;
  }
}
