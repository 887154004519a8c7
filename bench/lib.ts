import { spawn } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:net';
import { resolve } from 'node:path';
import { type StackOptions, startStack } from '../tools/stack.ts';

/** A free TCP port on loopback. */
function freePort(): Promise<number> {
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

/** What a benchmark reads and drives of a Telegram stand-in running in its own process. */
export interface RemoteTelegram {
  url: string;
  configure(patch: Record<string, unknown>): Promise<void>;
  reset(): Promise<void>;
  forceFlood(seconds: number): Promise<{ start: number; until: number }>;
  floodWait(): Promise<{ start: number; until: number } | null>;
  stats(): Promise<{
    rejected429: number;
    arrivedDuringFlood: number;
    sentAfterFloodAnswered: number;
    sentAfterFloodAnsweredMaxMs: number;
    failedAfterDelivery: number;
    maxInFlightPerInvocation: number;
  }>;
  arrivals(): Promise<{ at: number; paid: boolean; status: number; counted: boolean }[]>;
  deliveries(): Promise<{ chat_id: number; at: number; text?: string }[]>;
  close(): Promise<void>;
}

/**
 * The Telegram stand-in in a process of its own, as Telegram is: the embedded Postgres answers
 * queries synchronously on the benchmark's thread, and the stand-in sharing that thread would answer
 * late whenever a query runs. `args` are the stand-in's command-line options.
 */
export async function remoteTelegram(args: string[]): Promise<RemoteTelegram> {
  const port = await freePort();
  const child = spawn(process.execPath, [resolve(import.meta.dirname, '../tools/telegram/stand-in.ts'), '--port', String(port), ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((ok, fail) => {
    child.once('exit', (code) => fail(new Error(`the Telegram stand-in exited with code ${code}`)));
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('listening')) ok();
    });
  });
  const url = `http://127.0.0.1:${port}`;
  const control = async <T>(path: string, body?: unknown): Promise<T> => {
    const r = await fetch(`${url}/__control/${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (!r.ok) throw new Error(`stand-in ${path}: HTTP ${r.status} ${await r.text()}`);
    return (await r.json()) as T;
  };
  return {
    url,
    configure: async (patch) => void (await control('config', patch)),
    reset: async () => void (await control('reset', {})),
    forceFlood: async (seconds) => (await control<{ flood: { start: number; until: number } }>('flood', { seconds })).flood,
    floodWait: async () => (await control<{ flood: { start: number; until: number } | null }>('flood')).flood,
    stats: () => control('stats'),
    arrivals: async () => (await control<{ arrivals: Awaited<ReturnType<RemoteTelegram['arrivals']>> }>('arrivals')).arrivals,
    deliveries: async () => (await control<{ deliveries: Awaited<ReturnType<RemoteTelegram['deliveries']>> }>('deliveries')).deliveries,
    close: async () => {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
