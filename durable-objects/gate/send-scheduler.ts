/**
 * The bot-wide send budget as a timeline of slots (virtual scheduling, as in GCRA): every send of the
 * bot gets a moment to go out. Telegram allows `freeRate` ordinary messages per second and `paidRate`
 * in all when paid broadcasts are allowed; a paid send only needs the all-sends spacing, an ordinary
 * one both.
 *
 * Telegram counts its limit where a request arrives, so network jitter moves sends between its
 * seconds: a timeline spaced at exactly the limit gets 429s. The scheduler paces at a share of the
 * limit (`target`, default 0.96: ±15 ms of jitter costs 30 ms of a second, 0.96 leaves 41 ms) and
 * adapts: a 429 cuts the pace (multiplicative decrease) and voids every slot granted before it (the
 * epoch moves on); the pace climbs back gradually while Telegram stays quiet.
 *
 * Slots are granted a short way ahead — broadcasts `BULK_HORIZON_MS`, everything else `HORIZON_MS` —
 * so a pause or a 429 takes effect at once, and a transactional send finds the timeline at most a
 * quarter second deep. Time is kept in whole microseconds and spacings round up, so rounding only
 * ever slows the pace. Plain logic over a clock the caller passes in.
 */
export interface Limits {
  /** Ordinary messages per second, bot-wide. Default 30 */
  freeRate: number;
  /** All messages per second when paid broadcasts are allowed. Default 1000 */
  paidRate: number;
}

export interface PaceSettings {
  /** Share of the limit paced at while Telegram is quiet. Default 0.96 */
  target: number;
  /** After a 429 the pace is multiplied by this. Default 0.85 */
  decrease: number;
  /** The pace never drops below this share of the limit. Default 0.5 */
  floor: number;
  /** Quiet time after a flood wait ends before the pace climbs back, in ms. Default 5000 */
  quietMs: number;
  /** How fast the pace climbs back, in shares of the limit per second. Default 0.01 */
  recoveryPerSecond: number;
}

export const DEFAULT_PACE: PaceSettings = { target: 0.96, decrease: 0.85, floor: 0.5, quietMs: 5_000, recoveryPerSecond: 0.01 };

/**
 * `transactional`: notifications, payment confirmations, alerts, previews, replies and card edits —
 * granted up to `HORIZON_MS` ahead, so they never queue behind more than a quarter second of
 * broadcast. `bulk`: campaign sends, granted at most `BULK_HORIZON_MS` ahead.
 */
export type Priority = 'transactional' | 'bulk';

export interface SlotRequest {
  /** How many sends want a slot. */
  count: number;
  /** Sent with `allow_paid_broadcast`. */
  paid: boolean;
  priority: Priority;
  /** Epoch ms before which none may go (a campaign's own pace). Default now */
  notBefore?: number;
  /** The caller's own spacing between its sends, in ms (1000 / a campaign's rate). Default 0 */
  spacingMs?: number;
}

export interface SlotGrant {
  /** Epoch ms for each granted send, ascending; fewer than asked when the horizon is reached. */
  times: number[];
  /** Slots of an older epoch are void: a 429 came after they were granted. */
  epoch: number;
  /** Set while Telegram asked the bot to stop (429): nothing is granted before this epoch ms. */
  blockedUntil?: number;
  /** When fewer were granted than asked: the epoch ms from which asking again gets a slot. */
  askAgainAt?: number;
}

export interface GateState {
  epoch: number;
  /** Epoch ms until which the bot waits out a 429 (0 or past: sending). */
  blockedUntil: number;
  /** The current pace as a share of the limit. */
  pace: number;
  /** Epoch ms of the last 429 that started a flood wait, or null. */
  lastFloodAt: number | null;
}

/** How far ahead a broadcast slot is granted, in ms. */
export const BULK_HORIZON_MS = 250;
/** How far ahead any slot is granted, in ms; a fresh scheduler grants nothing sooner than this. */
export const HORIZON_MS = 1000;

const us = (ms: number) => Math.ceil(ms * 1000);

export class SendScheduler {
  #limits: Limits;
  readonly #settings: PaceSettings;
  /** Microseconds since the epoch. */
  #nextAny: number;
  #nextFree: number;
  #blockedUntil: number;
  #epoch: number;
  #pace: number;
  #paceAt: number;
  #lastFloodAt: number | null = null;

  /**
   * A scheduler that may follow another whose grants are lost with it (an evicted object): it grants
   * nothing before `now + HORIZON_MS`, past anything the other could have granted, and starts a new
   * epoch (`epoch` is the last one known).
   */
  constructor(limits: Limits, settings: PaceSettings, start: { now: number; epoch: number; blockedUntil: number }) {
    this.#limits = limits;
    this.#settings = settings;
    this.#epoch = start.epoch + 1;
    this.#blockedUntil = start.blockedUntil;
    this.#nextAny = us(Math.max(start.now + HORIZON_MS, start.blockedUntil));
    this.#nextFree = this.#nextAny;
    this.#pace = settings.target;
    this.#paceAt = start.now;
  }

  setLimits(limits: Limits): void {
    this.#limits = limits;
  }

  state(now: number): GateState {
    this.#recover(now);
    return { epoch: this.#epoch, blockedUntil: this.#blockedUntil, pace: this.#pace, lastFloodAt: this.#lastFloodAt };
  }

  /**
   * Telegram answered 429 with `retry_after`: no slot before `until` for anyone. The first report of a
   * flood wait voids every slot granted so far (new epoch) and cuts the pace; reports of the same wait
   * (sends that were already on the wire) only lengthen it.
   */
  block(now: number, until: number): GateState {
    this.#recover(now);
    if (now >= this.#blockedUntil) {
      this.#epoch++;
      this.#pace = Math.max(this.#settings.floor, this.#pace * this.#settings.decrease);
      this.#lastFloodAt = now;
    }
    this.#blockedUntil = Math.max(this.#blockedUntil, until);
    this.#nextAny = Math.max(this.#nextAny, us(this.#blockedUntil));
    this.#nextFree = Math.max(this.#nextFree, us(this.#blockedUntil));
    this.#paceAt = Math.max(this.#paceAt, this.#blockedUntil);
    return this.state(now);
  }

  acquire(now: number, req: SlotRequest): SlotGrant {
    this.#recover(now);
    if (this.#blockedUntil > now) return { times: [], epoch: this.#epoch, blockedUntil: this.#blockedUntil };
    const anySpacing = Math.ceil(1e6 / (this.#limits.paidRate * this.#pace));
    const freeSpacing = Math.ceil(1e6 / (this.#limits.freeRate * this.#pace));
    const horizon = us(now + (req.priority === 'bulk' ? BULK_HORIZON_MS : HORIZON_MS));
    const times: number[] = [];
    let own = us(Math.max(now, req.notBefore ?? 0));
    let next = own;
    while (times.length < req.count) {
      next = Math.max(own, this.#nextAny, req.paid ? 0 : this.#nextFree);
      if (next > horizon) break;
      times.push(next / 1000);
      this.#nextAny = next + anySpacing;
      if (!req.paid) this.#nextFree = next + freeSpacing;
      own = next + us(req.spacingMs ?? 0);
    }
    if (times.length === req.count) return { times, epoch: this.#epoch };
    // Short of slots: come back when the first one past the horizon is about to be due.
    const window = req.priority === 'bulk' ? BULK_HORIZON_MS : HORIZON_MS;
    return { times, epoch: this.#epoch, askAgainAt: Math.max(now + 1, next / 1000 - window) };
  }

  /** The pace climbs back towards the target while Telegram has been quiet for `quietMs`. */
  #recover(now: number): void {
    const from = Math.max(this.#paceAt, this.#blockedUntil + this.#settings.quietMs);
    if (now <= from || this.#pace >= this.#settings.target) return;
    this.#pace = Math.min(this.#settings.target, this.#pace + ((now - from) / 1000) * this.#settings.recoveryPerSecond);
    this.#paceAt = now;
  }
}
