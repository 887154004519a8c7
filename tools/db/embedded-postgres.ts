import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';

/** A PGlite database served over the Postgres wire protocol on loopback. */
export interface EmbeddedPostgres {
  /** `postgres://postgres:<random>@127.0.0.1:<port>/postgres`; PGlite accepts any password. */
  readonly url: string;
  /** `127.0.0.1:<port>`, the only target the WebSocket bridge lets through. */
  readonly address: string;
  close(): Promise<void>;
}

/**
 * Starts PGlite with its data in `dataDir` (in memory when undefined) and a socket server on `port`
 * (0 picks a free one). `maxConnections` is the multiplexer's limit: PGlite itself runs one query at a
 * time, the server interleaves connections between transactions.
 */
export async function startEmbeddedPostgres(opts: { dataDir?: string; port?: number; maxConnections?: number } = {}): Promise<EmbeddedPostgres> {
  if (opts.dataDir) mkdirSync(opts.dataDir, { recursive: true });
  const db = await PGlite.create(opts.dataDir ?? 'memory://');
  const server = new PGLiteSocketServer({
    db,
    host: '127.0.0.1',
    port: opts.port ?? 0,
    maxConnections: opts.maxConnections ?? 100,
  });
  await server.start();
  const port = Number(server.getServerConn().split(':').pop());
  return {
    url: `postgres://postgres:${randomBytes(12).toString('hex')}@127.0.0.1:${port}/postgres`,
    address: `127.0.0.1:${port}`,
    close: async () => {
      await server.stop();
      await db.close();
    },
  };
}

