import { errorMessage } from '../core/logger';
import { breakerFor, CircuitOpenError } from './breaker';

/** A call to an external service that failed: its status (0: no answer) and what it said. */
export class ServiceError extends Error {
  override readonly name = 'ServiceError';
  readonly service: string;
  readonly status: number;
  readonly code: string;
  /** Another try may succeed (5xx, 429, timeout, connection). */
  readonly retryable: boolean;
  constructor(service: string, status: number, code: string, message: string) {
    super(`${service}: ${status ? `HTTP ${status} ` : ''}${message}`);
    this.service = service;
    this.status = status;
    this.code = code;
    this.retryable = status === 0 || status === 429 || status >= 500;
  }
}

export interface ServiceRequest {
  service: string;
  url: string;
  method?: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  headers?: Record<string, string>;
  body?: unknown;
  /**
   * False for a call that creates something and must not be repeated blindly: after a timeout or a
   * 5xx the service may have acted, so only a 429 (refused before acting) is tried again; the caller
   * looks up what happened. Default true
   */
  idempotent?: boolean;
  /** The caller's own deadline (a task run's timeout): aborting it ends the call and its waits at once. */
  signal?: AbortSignal;
  /** How long the service's breaker stays open once tripped (`BREAKER_OPEN_SECONDS`), in ms. Default 30 s */
  breakerOpenMs?: number;
}

/** What a client is made with besides its configuration. */
export interface ClientOptions {
  /** Ends every call of the client when aborted: pass a task run's `signal`. */
  signal?: AbortSignal;
}

/** A client's `BREAKER_OPEN_SECONDS` in ms (undefined: the breaker's default). */
export const breakerOpenMs = (config: { BREAKER_OPEN_SECONDS?: number }): number | undefined =>
  config.BREAKER_OPEN_SECONDS === undefined ? undefined : config.BREAKER_OPEN_SECONDS * 1000;

/** Per try. */
const TIMEOUT_MS = 4_000;
/**
 * Most a whole call takes, tries and waits included, in ms. Shorter than the 30 s by which a task
 * run's claim outlasts its timeout (`LEASE_MARGIN_SECONDS` in workers/tasks/consumer.ts), so a call
 * still in flight when its run times out has ended before another consumer may take the run over.
 */
const CALL_BUDGET_MS = 20_000;
/** Waits before the 2nd and 3rd try of a 5xx, 429 or network failure. */
const RETRY_DELAYS_MS = [250, 1_000];
/** A `Retry-After` longer than this is not waited for here: the caller's own retry policy takes over. */
const MAX_RETRY_AFTER_MS = 5_000;

/**
 * Calls a service with a 4 s timeout per try, up to 3 tries on 5xx, 429 (honouring `Retry-After`) and
 * network errors (only 429 when `idempotent` is false), through the service's circuit breaker, all
 * within `CALL_BUDGET_MS` and the caller's `signal`. Resolves with the status and parsed JSON body of
 * the first answer that is not retryable.
 */
export async function callService(req: ServiceRequest): Promise<{ status: number; body: unknown }> {
  const breaker = breakerFor(req.service, req.breakerOpenMs);
  const deadline = Date.now() + CALL_BUDGET_MS;
  let last: ServiceError | undefined;
  for (let attempt = 0; attempt <= RETRY_DELAYS_MS.length; attempt++) {
    if (attempt > 0) {
      const wait = retryAfterMs(last) ?? (RETRY_DELAYS_MS[attempt - 1] as number);
      // Another try must fit in the budget with its full timeout.
      if (Date.now() + wait + TIMEOUT_MS > deadline) throw last as ServiceError;
      await pause(wait, req.signal);
    }
    req.signal?.throwIfAborted();
    try {
      return await breaker.run(
        () => once(req),
        (err) => (err instanceof ServiceError && err.retryable ? (err.code === 'timeout' ? 'timeout' : 'failure') : false),
      );
    } catch (err) {
      // The breaker opened on this call's own failures: the failure itself is the better answer.
      if (err instanceof CircuitOpenError && last) throw last;
      if (!(err instanceof ServiceError) || !err.retryable) throw err;
      if (req.idempotent === false && err.status !== 429) throw err;
      last = err;
      const wait = retryAfterMs(err);
      if (wait !== undefined && wait > MAX_RETRY_AFTER_MS) throw err;
    }
  }
  throw last as ServiceError;
}

/** Waits `ms`, or rejects with `signal`'s reason as soon as it aborts. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

const retryAfter = new WeakMap<ServiceError, number>();

function retryAfterMs(err: ServiceError | undefined): number | undefined {
  return err ? retryAfter.get(err) : undefined;
}

async function once(req: ServiceRequest): Promise<{ status: number; body: unknown }> {
  let res: Response;
  try {
    res = await fetch(req.url, {
      method: req.method ?? 'GET',
      headers: { accept: 'application/json', ...(req.body === undefined ? {} : { 'content-type': 'application/json' }), ...req.headers },
      body: req.body === undefined ? undefined : JSON.stringify(req.body),
      signal: req.signal ? AbortSignal.any([AbortSignal.timeout(TIMEOUT_MS), req.signal]) : AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (err) {
    // The caller gave up, not the service: its reason goes back as it is, and counts as no failure.
    if (req.signal?.aborted) throw req.signal.reason;
    const timedOut = err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError');
    throw new ServiceError(
      req.service,
      0,
      timedOut ? 'timeout' : 'network',
      timedOut ? `no answer within ${TIMEOUT_MS} ms` : errorMessage(err),
    );
  }
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    // Proxies answer 502/503 with HTML: keep the text.
  }
  if (res.status === 429 || res.status >= 500) {
    const err = new ServiceError(req.service, res.status, `http_${res.status}`, describe(body));
    const after = Number(res.headers.get('retry-after'));
    if (after > 0) retryAfter.set(err, after * 1000);
    throw err;
  }
  return { status: res.status, body };
}

/** A short description of an error body, whatever its shape. */
export function describe(body: unknown): string {
  if (typeof body === 'string')
    return (
      body
        .replace(/<[^>]*>/g, ' ')
        .replace(/\s+/g, ' ')
        .trim()
        .slice(0, 200) || 'empty answer'
    );
  const o = (body ?? {}) as Record<string, unknown>;
  const error = o.error as Record<string, unknown> | string | undefined;
  if (typeof error === 'object' && error) return String(error.name ?? error.code ?? JSON.stringify(error));
  return String(o.message ?? error ?? JSON.stringify(body)).slice(0, 200);
}
