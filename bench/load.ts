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

async function load(requests: LoadRequest[], concurrency: number): Promise<LoadResult> {
  const latencies: number[] = [];
  const statuses: Record<number, number> = {};
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < requests.length) {
        const req = requests[next++] as LoadRequest;
        const t = performance.now();
        const res = await fetch(req.url, { method: req.method ?? 'GET', headers: req.headers, body: req.body });
        await res.arrayBuffer();
        latencies.push(performance.now() - t);
        statuses[res.status] = (statuses[res.status] ?? 0) + 1;
      }
    }),
  );
  return { latencies, statuses, seconds: (performance.now() - started) / 1000 };
}

if (!isMainThread && workerData?.requests) {
  const { requests, concurrency } = workerData as { requests: LoadRequest[]; concurrency: number };
  parentPort?.postMessage(await load(requests, concurrency));
}
