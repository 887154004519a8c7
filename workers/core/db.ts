import { neonConfig, Pool } from '@neondatabase/serverless';
import { drizzle, type NeonQueryResultHKT } from 'drizzle-orm/neon-serverless';
import type { PgDatabase } from 'drizzle-orm/pg-core';
import type { Config } from './config';

/**
 * A database handle or a transaction on one; repositories accept either. Built without the relational
 * schema: nothing uses `db.query`, and extracting it would cost every request CPU time.
 */
export type Db = PgDatabase<NeonQueryResultHKT>;

/** A database handle bound to one invocation; `close()` ends its pool. */
export interface DbScope {
  readonly db: Db;
  close(): Promise<void>;
}

let configuredProxy: string | undefined;

/**
 * Opens a pool for one request or queue invocation. Workers forbid sharing sockets across requests
 * ("Cannot perform I/O on behalf of a different request"), so a pool never outlives its invocation.
 * The pool connects lazily: a scope that runs no query opens no connection.
 */
export function openDb(config: Pick<Config, 'DATABASE_URL' | 'DATABASE_WS_PROXY'>, opts: { max?: number } = {}): DbScope {
  configureDriver(config.DATABASE_WS_PROXY);
  const pool = new Pool({ connectionString: config.DATABASE_URL, max: opts.max ?? 4, connectionTimeoutMillis: 5_000 });
  // An idle client that loses its socket emits 'error' on the pool; the next query reconnects.
  pool.on('error', () => {});
  let closed: Promise<void> | undefined;
  return {
    db: drizzle({ client: pool }),
    close: () => {
      closed ??= pool.end().catch(() => {});
      return closed;
    },
  };
}

/** Runs `fn` with a fresh handle and always closes it. */
export async function withDb<T>(config: Pick<Config, 'DATABASE_URL' | 'DATABASE_WS_PROXY'>, fn: (db: Db) => Promise<T>): Promise<T> {
  const scope = openDb(config);
  try {
    return await fn(scope.db);
  } finally {
    await scope.close();
  }
}

/** Points the driver at a plain Postgres through the local WebSocket bridge, or leaves Neon's defaults. */
function configureDriver(proxy: string): void {
  if (proxy === configuredProxy) return;
  configuredProxy = proxy;
  if (proxy) {
    neonConfig.wsProxy = (host, port) => `${proxy}/v1?address=${host}:${port}`;
    neonConfig.useSecureWebSocket = false;
    neonConfig.pipelineTLS = false;
    neonConfig.pipelineConnect = false;
  }
}
