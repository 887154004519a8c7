import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { extendedQuery, readResult, simpleQuery } from './pg-protocol.ts';
import { PgliteSessions, PgliteWireServer } from './pglite-server.ts';
import { type SqlExecutor, type SqlQuery, type SqlResult, serveSqlOverHttp } from './sql-over-http.ts';

/** A PGlite database served on loopback, over the Postgres wire protocol and Neon's SQL-over-HTTP. */
export interface EmbeddedPostgres {
  /** `postgres://postgres:<random>@127.0.0.1:<port>/postgres`; PGlite accepts any password. */
  readonly url: string;
  /** `host:port` of its SQL-over-HTTP endpoint, the Worker's `DATABASE_PROXY`. */
  readonly proxy: string;
  close(): Promise<void>;
}

interface Options {
  /** Data folder; in memory when undefined. */
  dataDir?: string;
  /** Wire protocol port; 0 picks a free one. */
  port?: number;
}

/**
 * Starts PGlite (Postgres compiled to WebAssembly) in a worker thread, so its queries run beside the
 * main thread's servers rather than between them. The HTTP endpoint feeds statements to PGlite
 * directly, with no socket or client library in between.
 */
export async function startEmbeddedPostgres(opts: Options = {}): Promise<EmbeddedPostgres> {
  if (opts.dataDir) mkdirSync(opts.dataDir, { recursive: true });
  const worker = new Worker(new URL(import.meta.url), { workerData: opts });
  const ready = await new Promise<{ port: number; proxy: string }>((resolve, reject) => {
    worker.once('message', (m: { port: number; proxy: string } | { error: string }) =>
      'error' in m ? reject(new Error(m.error)) : resolve(m),
    );
    worker.once('error', reject);
  });
  const url = `postgres://postgres:${randomBytes(12).toString('hex')}@127.0.0.1:${ready.port}/postgres`;
  return {
    url,
    proxy: ready.proxy,
    close: async () => {
      const exited = new Promise((resolve) => worker.once('exit', resolve));
      worker.postMessage('close');
      await exited;
    },
  };
}

async function serve(opts: Options): Promise<void> {
  const port = parentPort;
  if (!port) return;
  try {
    const db = await PGlite.create(opts.dataDir ?? 'memory://');
    const sessions = new PgliteSessions(db);
    const wire = new PgliteWireServer(sessions);
    const wirePort = await wire.listen(opts.port ?? 0);
    const sql = await serveSqlOverHttp(pgliteExecutor(sessions), { target: `127.0.0.1:${wirePort}` });
    port.postMessage({ port: wirePort, proxy: sql.address });
    port.on('message', async () => {
      await sql.close();
      await wire.close();
      await db.close();
      port.close();
    });
  } catch (err) {
    port.postMessage({ error: err instanceof Error ? err.message : String(err) });
  }
}

/**
 * Statements for the HTTP endpoint, each a session of its own; a batch is one session in a transaction.
 * Each distinct statement text is parsed once, as a named prepared statement (PGlite is one Postgres
 * session, so the name lives for its lifetime; Postgres replans it when the schema changes).
 */
function pgliteExecutor(sessions: PgliteSessions): SqlExecutor {
  const prepared = new Map<string, string>();
  let names = 0;
  const runIn =
    (session: object) =>
    async (q: SqlQuery): Promise<SqlResult> => {
      const known = prepared.get(q.query);
      const name = known ?? `neon_http_${++names}`;
      const result = readResult(await sessions.exec(session, extendedQuery(q.query, q.params ?? [], name, known !== undefined)));
      if (!known && prepared.size < 10_000) prepared.set(q.query, name);
      return { ...result, rowAsArray: true };
    };
  return {
    run: async (q) => {
      const session = {};
      try {
        return await runIn(session)(q);
      } finally {
        await sessions.end(session);
      }
    },
    transaction: async (fn) => {
      const session = {};
      try {
        readResult(await sessions.exec(session, simpleQuery('begin')));
        const out = await fn(runIn(session));
        readResult(await sessions.exec(session, simpleQuery('commit')));
        return out;
      } finally {
        await sessions.end(session);
      }
    },
  };
}

if (!isMainThread && (workerData as Options | undefined) !== undefined) await serve(workerData as Options);
