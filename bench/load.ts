import { Agent, request } from 'node:http';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

/** One HTTP request of a load run. */
export interface LoadRequest {
  url: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

export interface LoadResult {
  /** Milliseconds per request, in completion order. */
  latencies: number[];
  /** Count of answers by HTTP status. */
  statuses: Record<number, number>;
  seconds: number;
}

/**
 * Sends `requests` with `concurrency` in flight from a worker thread, so the load generator does not
 * compete with the stack's servers for the main thread.
 */
export function runLoad(requests: LoadRequest[], concurrency: number): Promise<LoadResult> {
  const worker = new Worker(new URL(import.meta.url), { workerData: { requests, concurrency } });
  return new Promise((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
  });
}

/** One request on a keep-alive connection; node:http costs the load generator less CPU than fetch. */
function send(agent: Agent, req: LoadRequest): Promise<number> {
  return new Promise((resolve, reject) => {
    const out = request(req.url, { method: req.method ?? 'GET', headers: req.headers, agent }, (res) => {
      res.on('data', () => {});
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    out.on('error', reject);
    out.end(req.body);
  });
}

async function load(requests: LoadRequest[], concurrency: number): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const latencies: number[] = [];
  const statuses: Record<number, number> = {};
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < requests.length) {
        const req = requests[next++] as LoadRequest;
        const t = performance.now();
        const status = await send(agent, req);
        latencies.push(performance.now() - t);
        statuses[status] = (statuses[status] ?? 0) + 1;
      }
    }),
  );
  agent.destroy();
  return { latencies, statuses, seconds: (performance.now() - started) / 1000 };
}

if (!isMainThread && workerData?.requests) {
  const { requests, concurrency } = workerData as { requests: LoadRequest[]; concurrency: number };
  parentPort?.postMessage(await load(requests, concurrency));
}
