/** What the stand-ins' tests share: a client for the control API and a webhook receiver. */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A control API client for the stand-in at `origin`: GET without a body, POST (JSON) with one. */
export function controlClient(origin: string) {
  return async <T = Record<string, unknown>>(path: string, body?: unknown): Promise<{ status: number; json: T }> => {
    const init: RequestInit =
      body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
    const res = await fetch(`${origin}/__control/${path}`, init);
    return { status: res.status, json: (await res.json()) as T };
  };
}

/** One request a receiver got. */
export interface Hit {
  raw: string;
  headers: IncomingHttpHeaders;
}

/** A webhook receiver on a free port: keeps every request and answers each with what `answer` returns. */
export interface Receiver {
  /** `http://127.0.0.1:<port>` */
  origin: string;
  /** Every request in order; empty it in place to start over. */
  hits: Hit[];
  close(): Promise<void>;
}

export async function startReceiver(answer: (hit: Hit) => { status: number; type?: string; body: string }): Promise<Receiver> {
  const hits: Hit[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const hit = { raw: Buffer.concat(chunks).toString('utf8'), headers: req.headers };
      hits.push(hit);
      const { status, type, body } = answer(hit);
      res.writeHead(status, type ? { 'content-type': type } : {}).end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
