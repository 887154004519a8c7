import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { createConnection } from 'node:net';
import type * as WsModule from 'ws';

// Loaded with require so a bundler resolving the "browser" condition (Vitest's global setup under the
// Workers plugin) still gets the Node server and not ws's browser stub.
const { WebSocketServer } = createRequire(import.meta.url)('ws') as typeof WsModule;

/**
 * WebSocket-to-TCP bridge for `@neondatabase/serverless` against a plain Postgres.
 * The driver opens `ws://host:port/v1?address=<db-host>:<db-port>` and speaks the Postgres wire
 * protocol inside binary frames; the bridge copies bytes both ways. Only `allowedTarget` may be
 * reached, so the bridge is not an open proxy.
 */
export interface WsBridge {
  /** Value for the Worker's `DATABASE_WS_PROXY`, e.g. `127.0.0.1:54021`. */
  readonly proxy: string;
  readonly port: number;
  close(): Promise<void>;
}

export async function startWsBridge(opts: { allowedTarget: string; port?: number; host?: string }): Promise<WsBridge> {
  const host = opts.host ?? '127.0.0.1';
  const wss = new WebSocketServer({ host, port: opts.port ?? 0, perMessageDeflate: false });
  wss.on('connection', (ws, req) => {
    const address = new URL(req.url ?? '/', 'http://bridge').searchParams.get('address');
    if (address !== opts.allowedTarget) {
      ws.close(1008, 'address not allowed');
      return;
    }
    const [targetHost, targetPort] = splitHostPort(address);
    const socket = createConnection({ host: targetHost, port: targetPort, noDelay: true });
    ws.on('message', (data: Buffer) => socket.write(data));
    ws.on('close', () => socket.end());
    ws.on('error', () => socket.destroy());
    socket.on('data', (chunk) => ws.send(chunk));
    socket.on('close', () => ws.close());
    socket.on('error', () => ws.terminate());
  });
  await new Promise<void>((resolve, reject) => {
    wss.once('listening', resolve);
    wss.once('error', reject);
  });
  const port = (wss.address() as AddressInfo).port;
  return {
    proxy: `${host}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const client of wss.clients) client.terminate();
        wss.close(() => resolve());
      }),
  };
}

function splitHostPort(address: string): [string, number] {
  const i = address.lastIndexOf(':');
  return [address.slice(0, i), Number(address.slice(i + 1))];
}
