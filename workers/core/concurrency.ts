/** Maps `items` through `fn` with at most `limit` calls in flight; results keep the input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/**
 * Resolves at epoch ms `at` (at once if it has passed). The wait is rounded up to a whole millisecond:
 * the runtime's timers are in whole milliseconds, and a timer shorter than one may fire with the clock
 * not yet past `at`, so a loop waiting for `at` would spin on zero-length timers without ever getting there.
 */
export function sleepUntil(at: number): Promise<void> {
  const ms = at - Date.now();
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, Math.ceil(ms))) : Promise.resolve();
}

/**
 * Runs `fn`, and again after each of `waitsMs` while it throws (`onRetry` hears of each failure that
 * is tried again); the last failure is thrown. For work that is safe to repeat.
 */
export async function retrying<T>(
  fn: () => Promise<T>,
  waitsMs: readonly number[],
  onRetry: (attempt: number, err: unknown) => void,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const wait = waitsMs[attempt - 1];
      if (wait === undefined) throw err;
      onRetry(attempt, err);
      await sleepUntil(Date.now() + wait);
    }
  }
}

/** Runs at most `n` of the functions it is given at once; the others wait their turn in order. */
export function semaphore(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (fn) => {
    // A finishing call hands its place straight to the next in line, so a newcomer never slips in between.
    if (active < n) active++;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await fn();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
}
