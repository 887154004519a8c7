import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { PgliteWireServer } from './pglite-server.ts';

/** A PGlite database served over the Postgres wire protocol on loopback. */
export interface EmbeddedPostgres {
  /** `postgres://postgres:<random>@127.0.0.1:<port>/postgres`; PGlite accepts any password. */
  readonly url: string;
  /** `127.0.0.1:<port>`, the only target the WebSocket bridge lets through. */
  readonly address: string;
  close(): Promise<void>;
}

/** Starts PGlite with its data in `dataDir` (in memory when undefined), served on `port` (0 picks a free one). */
export async function startEmbeddedPostgres(opts: { dataDir?: string; port?: number } = {}): Promise<EmbeddedPostgres> {
  if (opts.dataDir) mkdirSync(opts.dataDir, { recursive: true });
  const db = await PGlite.create(opts.dataDir ?? 'memory://');
  const server = new PgliteWireServer(db);
  const port = await server.listen(opts.port ?? 0);
  return {
    url: `postgres://postgres:${randomBytes(12).toString('hex')}@127.0.0.1:${port}/postgres`,
    address: `127.0.0.1:${port}`,
    close: async () => {
      await server.close();
      await db.close();
    },
  };
}
