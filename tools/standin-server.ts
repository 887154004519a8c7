/** What the stand-ins (Telegram, Crypto Pay, Remnawave) share: an HTTP server that listens and closes cleanly. */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Listening {
  /** `http://host:port`, with a wildcard host shown as 127.0.0.1. */
  origin: string;
  /** Stops listening, aborts `signal` (cancelling latency waits) and drops every connection, keep-alive ones included. */
  close(): Promise<void>;
}

/**
 * Serves `handle` on `host:port` (defaults 127.0.0.1 and a free port). `signal` aborts when the
 * server closes, so a handler sleeping out its latency stops at once.
 */
export async function listen(
  handle: (req: IncomingMessage, res: ServerResponse, signal: AbortSignal) => void,
  opts: { host?: string; port?: number },
): Promise<Listening> {
  const closing = new AbortController();
  const server = createServer((req, res) => handle(req, res, closing.signal));
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  let closed: Promise<void> | undefined;
  return {
    origin: `http://${shownHost}:${port}`,
    close: () => {
      closed ??= new Promise<void>((resolve) => {
        closing.abort();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

/** For a stand-in run on its own: Ctrl-C or SIGTERM closes it and exits. */
export function closeOnSignals(standIn: { close(): Promise<void> }): void {
  const stop = () => {
    void standIn.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
