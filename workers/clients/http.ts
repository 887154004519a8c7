import { sleepUntil } from '../core/concurrency';
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
}

/** Per try. */
const TIMEOUT_MS = 4_000;
/** Waits before the 2nd and 3rd try of a 5xx, 429 or network failure. */
const RETRY_DELAYS_MS = [250, 1_000];
/** A `Retry-After` longer than this is not waited for here: the caller's own retry policy takes over. */
const MAX_RETRY_AFTER_MS = 5_000;

/**
 * Calls a service with a 4 s timeout per try, up to 3 tries on 5xx, 429 (honouring `Retry-After`) and
 * network errors, through the service's circuit breaker. Resolves with the status and parsed JSON
 * body of the first answer that is not retryable; `errorOf` turns a non-2xx body into a message.
 */
export async function callService(req: ServiceRequest): Promise<{ status: number; body: unknown }> {
  const breaker = breakerFor(req.service);
  let last: ServiceError | undefined;
  for (let attempt = 0; attempt <= RETRY_DELAYS_MS.length; attempt++) {
    if (attempt > 0) await sleepUntil(Date.now() + (retryAfterMs(last) ?? (RETRY_DELAYS_MS[attempt - 1] as number)));
    try {
      return await breaker.run(
        () => once(req),
        (err) => (err instanceof ServiceError && err.retryable ? (err.code === 'timeout' ? 'timeout' : 'failure') : false),
      );
    } catch (err) {
      // The breaker opened on this call's own failures: the failure itself is the better answer.
      if (err instanceof CircuitOpenError && last) throw last;
      if (!(err instanceof ServiceError) || !err.retryable) throw err;
      last = err;
      const wait = retryAfterMs(err);
      if (wait !== undefined && wait > MAX_RETRY_AFTER_MS) throw err;
    }
  }
  throw last as ServiceError;
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
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (err) {
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
