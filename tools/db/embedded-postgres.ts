import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import { migrationsFolder } from './migrate.ts';
import { extendedQuery, readResult, simpleQuery } from './pg-protocol.ts';
import { PgliteSessions, PgliteWireServer } from './pglite-server.ts';
import { type SqlExecutor, type SqlQuery, type SqlResult, serveSqlOverHttp } from './sql-over-http.ts';

/** A PGlite database served on loopback, over the Postgres wire protocol and Neon's SQL-over-HTTP. */
export interface EmbeddedPostgres {
  /** `postgres://postgres:<random>@127.0.0.1:<port>/postgres`; PGlite accepts any password. */
  readonly url: string;
  /** `host:port` of its SQL-over-HTTP endpoint, the Worker's `DATABASE_PROXY`. */
  readonly proxy: string;
  /**
   * Makes another database with the migrations applied (a schema of PGlite's one database, for the
   * server's lifetime) and resolves with its URL: each test file gets its own.
   */
  createDatabase(name: string): Promise<string>;
  close(): Promise<void>;
}

type Command = { type: 'close' } | { type: 'createDatabase'; id: number; name: string };
type Reply = { id: number; error?: string };

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
  const waiting = new Map<number, (reply: Reply) => void>();
  worker.on('message', (reply: Reply) => waiting.get(reply.id)?.(reply));
  let ids = 0;
  const send = (command: Command) => worker.postMessage(command);
  return {
    url,
    proxy: ready.proxy,
    createDatabase: async (name) => {
      const id = ++ids;
      const reply = await new Promise<Reply>((resolve) => {
        waiting.set(id, resolve);
        send({ type: 'createDatabase', id, name });
      });
      waiting.delete(id);
      if (reply.error) throw new Error(reply.error);
      return url.replace(/\/postgres$/, `/${name}`);
    },
    close: async () => {
      const exited = new Promise((resolve) => worker.once('exit', resolve));
      send({ type: 'close' });
      await exited;
    },
  };
}

let migrations: string[] | undefined;

/** The migrations' statements for a database living in schema `name` (their `"public".` references moved there). */
function migrationStatements(name: string): string[] {
  migrations ??= readMigrationFiles({ migrationsFolder }).flatMap((m) => m.sql);
  return migrations.map((s) => s.replaceAll('"public".', `"${name}".`));
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
    port.on('message', async (command: Command) => {
      if (command.type === 'createDatabase') {
        const { id, name } = command;
        sessions.createDatabase(name, migrationStatements(name)).then(
          () => port.postMessage({ id } satisfies Reply),
          (err: unknown) => port.postMessage({ id, error: err instanceof Error ? err.message : String(err) } satisfies Reply),
        );
        return;
      }
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
    (session: object, database: string) =>
    async (q: SqlQuery): Promise<SqlResult> => {
      // Per database: a statement is planned against its own schema's tables.
      const key = `${database}\0${q.query}`;
      const known = prepared.get(key);
      const name = known ?? `neon_http_${++names}`;
      const request = extendedQuery(q.query, q.params ?? [], name, known !== undefined);
      const result = readResult(await sessions.exec(session, request, database));
      if (!known && prepared.size < 10_000) prepared.set(key, name);
      return { ...result, rowAsArray: true };
    };
  return {
    run: async (q, database) => {
      const session = {};
      try {
        return await runIn(session, database)(q);
      } finally {
        await sessions.end(session);
      }
    },
    transaction: async (fn, database) => {
      const session = {};
      try {
        readResult(await sessions.exec(session, simpleQuery('begin'), database));
        const out = await fn(runIn(session, database));
        readResult(await sessions.exec(session, simpleQuery('commit'), database));
        return out;
      } finally {
        await sessions.end(session);
      }
    },
  };
}

if (!isMainThread && (workerData as Options | undefined) !== undefined) await serve(workerData as Options);
