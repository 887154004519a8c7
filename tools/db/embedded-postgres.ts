import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { PgliteWireServer } from './pglite-server.ts';

/** A PGlite database served over the Postgres wire protocol on loopback. */
export interface EmbeddedPostgres {
  /** `postgres://postgres:<random>@127.0.0.1:<port>/postgres`; PGlite accepts any password. */
  readonly url: string;
  close(): Promise<void>;
}

interface Options {
  /** Data folder; in memory when undefined. */
  dataDir?: string;
  /** 0 picks a free port. */
  port?: number;
}

/**
 * Starts PGlite (Postgres compiled to WebAssembly) in a worker thread, so its queries run beside the
 * main thread's servers rather than between them, and serves it on loopback.
 */
export async function startEmbeddedPostgres(opts: Options = {}): Promise<EmbeddedPostgres> {
  if (opts.dataDir) mkdirSync(opts.dataDir, { recursive: true });
  const worker = new Worker(new URL(import.meta.url), { workerData: opts });
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('message', (m: { port?: number; error?: string }) => (m.port ? resolve(m.port) : reject(new Error(m.error))));
    worker.once('error', reject);
  });
  return {
    url: `postgres://postgres:${randomBytes(12).toString('hex')}@127.0.0.1:${port}/postgres`,
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
    const server = new PgliteWireServer(db);
    port.postMessage({ port: await server.listen(opts.port ?? 0) });
    port.on('message', async () => {
      await server.close();
      await db.close();
      port.close();
    });
  } catch (err) {
    port.postMessage({ error: err instanceof Error ? err.message : String(err) });
  }
}

if (!isMainThread && (workerData as Options | undefined) !== undefined) await serve(workerData as Options);
