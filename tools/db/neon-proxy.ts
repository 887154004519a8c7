import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo, Socket } from 'node:net';
import { createConnection } from 'node:net';
import pg from 'pg';
import type * as WsModule from 'ws';

// Loaded with require so a bundler resolving the "browser" condition (Vitest's global setup under the
// Workers plugin) still gets the Node server and not ws's browser stub.
const { WebSocketServer } = createRequire(import.meta.url)('ws') as typeof WsModule;

/**
 * What Neon's proxy does in production, for a plain Postgres on this machine, so the Worker runs the
 * same `@neondatabase/serverless` code paths locally:
 * - `POST /sql`: Neon's SQL-over-HTTP (the `neon()` driver): one query, or `{queries}` run as one
 *   transaction; rows in text form with their type ids, errors as 400 with Postgres' fields. Queries
 *   run on a small warm pool, as Neon's proxy keeps its connections.
 * - `GET /v1?address=` upgraded to a WebSocket (the `Pool`/`Client` driver): Postgres' wire protocol
 *   copied both ways to `target`.
 * Only `target` is ever reached, so it is not an open proxy.
 */
export interface NeonProxy {
  /** Value for the Worker's `DATABASE_PROXY`, e.g. `127.0.0.1:54021`. */
  readonly address: string;
  close(): Promise<void>;
}

interface SqlQuery {
  query: string;
  params?: unknown[];
}

/** Rows stay text, as Neon sends them with `Neon-Raw-Text-Output`; the driver parses them by type id. */
const rawText = { getTypeParser: () => (value: string) => value };

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

export async function startNeonProxy(opts: { databaseUrl: string; port?: number; host?: string; poolSize?: number }): Promise<NeonProxy> {
  const target = new URL(opts.databaseUrl);
  const targetAddress = `${target.hostname}:${target.port || 5432}`;
  const pool = new pg.Pool({ connectionString: opts.databaseUrl, max: opts.poolSize ?? 8 });
  pool.on('error', () => {});

  const server = createServer((req, res) => {
    if (req.method !== 'POST' || new URL(req.url ?? '/', 'http://proxy').pathname !== '/sql') send(res, 404, { message: 'not found' });
    else if (connectionTarget(req) !== targetAddress)
      send(res, 502, { message: `could not connect to ${connectionTarget(req)}: no such database here` });
    else void handleSql(pool, req, res);
  });
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  server.on('upgrade', (req, socket, head) => {
    const address = new URL(req.url ?? '/', 'http://proxy').searchParams.get('address');
    if (address !== targetAddress) {
      socket.end('HTTP/1.1 403 Forbidden\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => bridge(ws, target.hostname, Number(target.port || 5432)));
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
      for (const client of wss.clients) client.terminate();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await pool.end();
    },
  };
}

/** host:port of the `Neon-Connection-String` a query is for (never its credentials). */
function connectionTarget(req: IncomingMessage): string {
  try {
    const url = new URL(String(req.headers['neon-connection-string']));
    return `${url.hostname}:${url.port || 5432}`;
  } catch {
    return 'an invalid connection string';
  }
}

async function handleSql(pool: pg.Pool, req: IncomingMessage, res: ServerResponse): Promise<void> {
  let body: SqlQuery & { queries?: SqlQuery[] };
  try {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    send(res, 400, { message: 'request body is not JSON' });
    return;
  }
  const client = await pool.connect().catch((err: unknown) => err as Error);
  if (client instanceof Error) {
    send(res, 503, { message: `database unavailable: ${client.message}` });
    return;
  }
  let broken = false;
  try {
    if (body.queries) {
      const isolation = req.headers['neon-batch-isolation-level'];
      await client.query(
        `begin${typeof isolation === 'string' && /^[A-Za-z ]+$/.test(isolation) ? ` isolation level ${isolation.replace(/([a-z])([A-Z])/g, '$1 $2')}` : ''}`,
      );
      try {
        const results = [];
        for (const q of body.queries) results.push(await run(client, q));
        await client.query('commit');
        send(res, 200, { results });
      } catch (err) {
        await client.query('rollback').catch(() => {
          broken = true;
        });
        throw err;
      }
    } else {
      send(res, 200, await run(client, body));
    }
  } catch (err) {
    const pgErr = err as Record<string, unknown> & Error;
    if (!('code' in pgErr)) broken = true;
    send(res, 400, { message: pgErr.message, ...Object.fromEntries(errorFields.map((f) => [f, pgErr[f]])) });
  } finally {
    client.release(broken);
  }
}

async function run(client: pg.PoolClient, q: SqlQuery) {
  const result = await client.query({ text: q.query, values: q.params ?? [], rowMode: 'array', types: rawText });
  return { command: result.command, rowCount: result.rowCount, rows: result.rows, fields: result.fields, rowAsArray: true };
}

function bridge(ws: WsModule.WebSocket, host: string, port: number): void {
  const socket = createConnection({ host, port, noDelay: true });
  ws.on('message', (data: Buffer) => socket.write(data));
  ws.on('close', () => socket.end());
  ws.on('error', () => socket.destroy());
  socket.on('data', (chunk) => ws.send(chunk));
  socket.on('close', () => ws.close());
  socket.on('error', () => ws.terminate());
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
