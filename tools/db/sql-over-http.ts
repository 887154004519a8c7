import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * Neon's SQL-over-HTTP (what the `neon()` driver speaks), served in front of a local Postgres:
 * `POST /sql` with `{query, params}` runs one statement, `{queries: [...]}` runs them as one
 * transaction. Rows go back as text with their type ids (`Neon-Raw-Text-Output`), errors as 400 with
 * Postgres' fields, exactly as the driver expects from Neon. A query for another host than `target`
 * gets 502, as Neon answers for an endpoint it cannot reach.
 */
export interface SqlQuery {
  query: string;
  params?: unknown[];
}

export interface SqlResult {
  command: string;
  rowCount: number;
  rows: unknown[][];
  fields: { name: string; dataTypeID: number }[];
  rowAsArray: true;
}

/**
 * Runs statements on some Postgres, in `database` (the connection string's); `transaction` runs `fn`'s
 * statements in one transaction. A database it does not have is a Postgres error, SQLSTATE 3D000.
 */
export interface SqlExecutor {
  run(q: SqlQuery, database: string): Promise<SqlResult>;
  transaction<T>(fn: (run: (q: SqlQuery) => Promise<SqlResult>) => Promise<T>, database: string): Promise<T>;
}

export interface SqlServer {
  /** `host:port`, the Worker's `DATABASE_PROXY`. */
  readonly address: string;
  close(): Promise<void>;
}

const errorFields = [
  'severity',
  'code',
  'detail',
  'hint',
  'position',
  'internalPosition',
  'internalQuery',
  'where',
  'schema',
  'table',
  'column',
  'dataType',
  'constraint',
  'file',
  'line',
  'routine',
] as const;

export async function serveSqlOverHttp(executor: SqlExecutor, opts: { target: string; port?: number; host?: string }): Promise<SqlServer> {
  // Round trips served (each POST /sql is one: a statement, or a batch as one transaction), for benchmarks.
  let requests = 0;
  const server: Server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://proxy').pathname;
    if (req.method === 'GET' && path === '/stats') send(res, 200, { requests });
    else if (req.method !== 'POST' || path !== '/sql') send(res, 404, { message: 'not found' });
    else {
      const { target, database } = connectionOf(req);
      if (target !== opts.target) send(res, 502, { message: `could not connect to ${target}: no such database here` });
      else {
        requests++;
        void handle(executor, req, res, database);
      }
    }
  });
  const sockets = new Set<Socket>();
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  return {
    address: `${address}:${port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** host:port and database of the `Neon-Connection-String` a query is for (never its credentials). */
function connectionOf(req: IncomingMessage): { target: string; database: string } {
  try {
    const url = new URL(String(req.headers['neon-connection-string']));
    return { target: `${url.hostname}:${url.port || 5432}`, database: decodeURIComponent(url.pathname.slice(1)) || 'postgres' };
  } catch {
    return { target: 'an invalid connection string', database: 'postgres' };
  }
}

async function handle(executor: SqlExecutor, req: IncomingMessage, res: ServerResponse, database: string): Promise<void> {
  let body: SqlQuery & { queries?: SqlQuery[] };
  try {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    send(res, 400, { message: 'request body is not JSON' });
    return;
  }
  try {
    const { queries } = body;
    if (queries) {
      const results = await executor.transaction(async (run) => {
        const out: SqlResult[] = [];
        for (const q of queries) out.push(await run(q));
        return out;
      }, database);
      send(res, 200, { results });
    } else {
      send(res, 200, await executor.run(body, database));
    }
  } catch (err) {
    const pgErr = err as Error & Record<string, unknown>;
    // A Postgres error (it has a SQLSTATE) is the query's fault: 400 with its fields, as Neon does.
    if (typeof pgErr.code === 'string')
      send(res, 400, { message: pgErr.message, ...Object.fromEntries(errorFields.map((f) => [f, pgErr[f]])) });
    else send(res, 503, { message: `database unavailable: ${pgErr.message}` });
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
