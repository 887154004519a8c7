/**
 * The cap a deployed Worker puts on its own outbound connections: at most 6 per invocation waiting for
 * response headers, a 7th waits inside the Worker until one answers. The local runtime has no such cap, so
 * the stand-in plays it for requests that say which invocation sent them.
 */

/** Header naming the Worker invocation a request comes from; requests without it are not capped. */
export const INVOCATION_HEADER = 'x-flarecast-invocation';

/** Connections per invocation a deployed Worker keeps waiting for response headers. */
export const WORKER_CONNECTIONS_PER_INVOCATION = 6;

interface Invocation {
  inFlight: number;
  /** Requests waiting for a connection, oldest first. */
  waiting: Array<() => void>;
}

/** Counters the cap reports into (the stand-in's stats). */
export interface ConnectionStats {
  /** Highest number of requests of one invocation in flight at once. */
  maxInFlightPerInvocation: number;
  /** Requests that had to wait for a connection of their invocation. */
  connectionWaits: number;
}

/** FIFO admission of at most `max` requests at a time per invocation id; `max` 0 means no cap. */
export class ConnectionCap {
  private max: number;
  private readonly stats: ConnectionStats;
  /** Only ids with a request in flight or waiting; an idle id is forgotten. */
  private readonly invocations = new Map<string, Invocation>();

  constructor(max: number, stats: ConnectionStats) {
    this.max = max;
    this.stats = stats;
  }

  /** Ids with a request in flight or waiting. */
  get activeInvocations(): number {
    return this.invocations.size;
  }

  setMax(max: number): void {
    this.max = max;
    for (const inv of this.invocations.values()) this.pump(inv);
  }

  /**
   * Resolves once the request may leave, with the function that frees its connection (call it once the
   * answer is written). Rejects if `signal` aborts while it waits.
   */
  async acquire(id: string, signal: AbortSignal): Promise<() => void> {
    let inv = this.invocations.get(id);
    if (!inv) {
      inv = { inFlight: 0, waiting: [] };
      this.invocations.set(id, inv);
    }
    const own = inv;
    if (this.hasRoom(own) && own.waiting.length === 0) this.enter(own);
    else {
      this.stats.connectionWaits += 1;
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => {
          const at = own.waiting.indexOf(admit);
          if (at !== -1) own.waiting.splice(at, 1);
          this.forgetIfIdle(id, own);
          reject(signal.reason);
        };
        const admit = () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
        if (signal.aborted) return onAbort();
        signal.addEventListener('abort', onAbort, { once: true });
        own.waiting.push(admit);
      });
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      own.inFlight -= 1;
      this.pump(own);
      this.forgetIfIdle(id, own);
    };
  }

  private hasRoom(inv: Invocation): boolean {
    return this.max <= 0 || inv.inFlight < this.max;
  }

  private enter(inv: Invocation): void {
    inv.inFlight += 1;
    this.stats.maxInFlightPerInvocation = Math.max(this.stats.maxInFlightPerInvocation, inv.inFlight);
  }

  private pump(inv: Invocation): void {
    while (this.hasRoom(inv)) {
      const next = inv.waiting.shift();
      if (!next) return;
      this.enter(inv);
      next();
    }
  }

  private forgetIfIdle(id: string, inv: Invocation): void {
    if (inv.inFlight === 0 && inv.waiting.length === 0 && this.invocations.get(id) === inv) this.invocations.delete(id);
  }
}
