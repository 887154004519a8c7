/**
 * The bot-wide send budget as a timeline of slots (virtual scheduling, as in GCRA): every send of the
 * bot gets a moment to go out, spaced so that no second ever holds more than the limit. Telegram
 * allows `freeRate` ordinary messages per second and `paidRate` in all when paid broadcasts are
 * allowed; a paid send only needs the all-sends spacing, an ordinary one both.
 *
 * Slots are granted at most `HORIZON_MS` ahead, so a sender never holds permission for long: pausing a
 * campaign or a 429 takes effect within the horizon. Time is kept in whole microseconds and spacings
 * round up, so rounding can only make the pace a hair slower than the limit, never faster. Plain
 * logic over a clock the caller passes in.
 */
export interface Limits {
  /** Ordinary messages per second, bot-wide. Default 30 */
  freeRate: number;
  /** All messages per second when paid broadcasts are allowed. Default 1000 */
  paidRate: number;
}

export interface SlotRequest {
  /** How many sends want a slot. */
  count: number;
  /** Sent with `allow_paid_broadcast`. */
  paid: boolean;
  /** Epoch ms before which none may go (the campaign's own pace). */
  notBefore: number;
  /** The campaign's own spacing between its sends, in ms (1000 / its rate). */
  spacingMs: number;
}

export interface SlotGrant {
  /** Epoch ms for each granted send, ascending; fewer than asked when the horizon is reached. */
  times: number[];
  /** Set while Telegram asked the bot to stop (429): nothing is granted before this epoch ms. */
  blockedUntil?: number;
  /** When fewer were granted than asked: the epoch ms from which asking again gets a slot. */
  askAgainAt?: number;
}

/** How far ahead slots are granted. */
export const HORIZON_MS = 1000;

export class SendScheduler {
  #limits: Limits;
  /** Microseconds since the epoch. */
  #nextAny = 0;
  #nextFree = 0;
  #blockedUntil = 0;

  constructor(limits: Limits, blockedUntil = 0) {
    this.#limits = limits;
    this.#blockedUntil = blockedUntil;
  }

  setLimits(limits: Limits): void {
    this.#limits = limits;
  }

  get blockedUntil(): number {
    return this.#blockedUntil;
  }

  /** Telegram answered 429 with `retry_after`: no slot before `until` for anyone. */
  block(until: number): void {
    this.#blockedUntil = Math.max(this.#blockedUntil, until);
    this.#nextAny = Math.max(this.#nextAny, this.#blockedUntil * 1000);
    this.#nextFree = Math.max(this.#nextFree, this.#blockedUntil * 1000);
  }

  acquire(now: number, req: SlotRequest): SlotGrant {
    if (this.#blockedUntil > now) return { times: [], blockedUntil: this.#blockedUntil };
    const us = (ms: number) => Math.ceil(ms * 1000);
    const anySpacing = Math.ceil(1e6 / this.#limits.paidRate);
    const freeSpacing = Math.ceil(1e6 / this.#limits.freeRate);
    const horizon = us(now + HORIZON_MS);
    const times: number[] = [];
    let own = us(Math.max(now, req.notBefore));
    while (times.length < req.count) {
      const t = Math.max(own, this.#nextAny, req.paid ? 0 : this.#nextFree);
      if (t > horizon) break;
      times.push(t / 1000);
      this.#nextAny = t + anySpacing;
      if (!req.paid) this.#nextFree = t + freeSpacing;
      own = t + us(req.spacingMs);
    }
    // Short of slots: come back when half a horizon is free again, so the next grant is worth a trip.
    if (times.length < req.count) return { times, askAgainAt: Math.max(now + 50, Math.max(own, this.#nextAny) / 1000 - HORIZON_MS / 2) };
    return { times };
  }
}
