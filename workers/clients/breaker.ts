/**
 * A circuit breaker per isolate and service: after 3 failed calls in a row, or one call that timed
 * out, it opens and refuses calls at once for `openMs`; then one trial call goes through, and its
 * success closes it. With calls timing out after 4 s, it opens within 5 s of an outage starting.
 */
export class CircuitBreaker {
  readonly name: string;
  readonly #threshold: number;
  readonly #openMs: number;
  #failures = 0;
  #openUntil = 0;
  #trialRunning = false;

  constructor(name: string, opts: { threshold?: number; openMs?: number } = {}) {
    this.name = name;
    this.#threshold = opts.threshold ?? 3;
    this.#openMs = opts.openMs ?? 30_000;
  }

  get state(): 'closed' | 'open' | 'half-open' {
    if (this.#failures < this.#threshold) return 'closed';
    return Date.now() < this.#openUntil ? 'open' : 'half-open';
  }

  /** Runs `fn` unless the breaker is open; `failed(err)` says whether an error counts as the service failing. */
  async run<T>(fn: () => Promise<T>, failed: (err: unknown) => 'failure' | 'timeout' | false): Promise<T> {
    const state = this.state;
    if (state === 'open' || (state === 'half-open' && this.#trialRunning)) throw new CircuitOpenError(this.name, this.#openUntil);
    const trial = state === 'half-open';
    if (trial) this.#trialRunning = true;
    try {
      const result = await fn();
      this.#failures = 0;
      return result;
    } catch (err) {
      const kind = failed(err);
      if (kind) {
        this.#failures = kind === 'timeout' ? Math.max(this.#threshold, this.#failures + 1) : this.#failures + 1;
        if (this.#failures >= this.#threshold) this.#openUntil = Date.now() + this.#openMs;
      } else {
        this.#failures = 0;
      }
      throw err;
    } finally {
      if (trial) this.#trialRunning = false;
    }
  }
}

export class CircuitOpenError extends Error {
  override readonly name = 'CircuitOpenError';
  /** The service whose breaker is open (its outage is the cause of this failure). */
  readonly service: string;
  readonly until: number;
  constructor(service: string, until: number) {
    super(`${service} is unavailable (circuit open until ${new Date(until).toISOString()})`);
    this.service = service;
    this.until = until;
  }
}

const breakers = new Map<string, CircuitBreaker>();

/** The breaker of a service in this isolate, open for `openMs` once tripped (the first caller's value). */
export function breakerFor(service: string, openMs?: number): CircuitBreaker {
  let b = breakers.get(service);
  if (!b) {
    b = new CircuitBreaker(service, { openMs });
    breakers.set(service, b);
  }
  return b;
}
