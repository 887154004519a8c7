import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { type StackOptions, startStack } from '../tools/stack.ts';

/** A free TCP port on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** The q-quantile (0..1) of `values`, nearest rank. */
export function quantile(values: number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}

export const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

/** Prints a figure line and keeps it for the summary. */
export function figure(label: string, value: string | number, target?: string): void {
  console.log(`${label.padEnd(48)} ${String(value).padStart(12)}${target ? `   (target ${target})` : ''}`);
}

/**
 * The stack's admin API: GET without a body, POST with one, the JSON answer back; an answer other
 * than 2xx throws with its body.
 */
export function adminApi(stack: { url: string; vars: Record<string, string> }) {
  return async <T = Record<string, unknown>>(path: string, body?: unknown): Promise<T> => {
    const r = await fetch(`${stack.url}/api${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { authorization: `Bearer ${stack.vars.ADMIN_API_TOKEN}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!r.ok) throw new Error(`${path}: HTTP ${r.status} ${await r.text()}`);
    return (await r.json()) as T;
  };
}

/**
 * The stack every benchmark runs on: the deploy bundle in workerd, an in-memory database, a free
 * port, the Worker's logs dropped; `opts` adds to or overrides that.
 */
export async function benchStack(opts: StackOptions = {}) {
  return startStack({ port: await freePort(), dataDir: '.data/bench', memoryDb: true, runtime: 'bundle', onLog: () => {}, ...opts });
}
