/**
 * The bot-wide send budget as a timeline of slots (virtual scheduling, as in GCRA): every send of the
 * bot gets a moment to go out. Telegram allows `freeRate` ordinary messages per second and `paidRate`
 * in all when paid broadcasts are allowed; a paid send only needs the all-sends spacing, an ordinary
 * one both.
 *
 * Telegram counts its limit where a request arrives, so network jitter moves sends between its
 * seconds: a timeline spaced at exactly the limit gets 429s. The scheduler paces at a share of each
 * limit and adapts: a 429 cuts the pace (multiplicative decrease) and voids every slot granted before
 * it (the epoch moves on); the pace climbs back gradually while Telegram stays quiet.
 *
 * The share differs by limit because jitter moves whole sends. ±15 ms of it can bring the sends of
 * 1,030 ms into one of Telegram's seconds, and a sender may leave up to 8 ms late. At 30/s one send
 * is 3 % of a second: a single late one can make a 31st, so the ordinary pace (`target`, 0.96) keeps
 * the worst case, 0.96 × 1,038 ms < 1 s. At 1,000/s a second's count only moves by the few sends at its
 * two edges (a standard deviation of ~3 sends): the paid pace (`paidTarget`, 0.97) keeps jitter alone
 * from ever making a 1,001st (0.97 × 1,030 ms < 1 s), and measured, its busiest second stays at 979–984.
 *
 * Slots sit on a grid of the paced spacing, so no second ever holds more than the pace and every
 * gap between two slots is a whole number of slots that a later request can fill. A request may ask
 * for its own slots further apart (a sender with 6 connections cannot take more) and other requests
 * fill the gaps between them. Slots are granted a short way ahead — broadcasts
 * `BULK_HORIZON_MS`, everything else `HORIZON_MS` — so a pause or a 429 takes effect at once, and a
 * transactional send finds the timeline at most a quarter second deep. Time is kept in whole
 * microseconds and spacings round up, so rounding only ever slows the pace. Plain logic over a clock
 * the caller passes in.
 */
export interface Limits {
  /** Ordinary messages per second, bot-wide. Default 30 */
  freeRate: number;
  /** All messages per second when paid broadcasts are allowed. Default 1000 */
  paidRate: number;
}

export interface PaceSettings {
  /** Share of the ordinary (free) limit paced at while Telegram is quiet. Default 0.96 */
  target: number;
  /** Share of the limit of all sends (paid broadcasts allowed) paced at while Telegram is quiet. Default 0.97 */
  paidTarget: number;
  /** After a 429 each pace is multiplied by this. Default 0.9 */
  decrease: number;
  /** A pace never drops below this share of its limit. Default 0.5 */
  floor: number;
  /** Quiet time after a flood wait ends before the pace climbs back, in ms. Default 3000 */
  quietMs: number;
  /** How fast a pace climbs back, in shares of its limit per second. Default 0.02 */
  recoveryPerSecond: number;
}

/**
 * A slot whose connection frees up more than this late is handed back instead of used (the outbound
 * path's check): sent late, it would bunch with the sends after it, and Telegram counts a sliding
 * second where requests arrive. The ordinary pace leaves room for it besides the jitter (see above).
 */
export const STALE_SLOT_MS = 8;

export const DEFAULT_PACE: PaceSettings = {
  target: 0.96,
  paidTarget: 0.97,
  decrease: 0.9,
  floor: 0.5,
  quietMs: 3_000,
  recoveryPerSecond: 0.02,
};

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
  /**
   * When each connection of the asking sender is free (epoch ms): each slot goes to the connection
   * free first and keeps it `holdMs`. A sender with 6 connections is never granted more than it can
   * send on time, and other senders' slots fill the time between. Default: one connection, free now
   */
  lanes?: number[];
  /** How long a send keeps its connection, in ms (a call's duration). Default 0 */
  holdMs?: number;
  /**
   * Who asks (a campaign's message of recipients): while several ask, each is granted at most its
   * share of the horizon per request, so they progress alike and finish together instead of leaving
   * a few stragglers sending alone at the end.
   */
  requester?: string;
  /** A pace of its own across requests (a campaign slower than the bot): `key` names it. */
  pace?: { key: string; spacingMs: number };
}

export interface SlotGrant {
  /** Epoch ms for each granted send, ascending; fewer than asked when the horizon is reached. */
  times: number[];
  /** With `lanes`: when each connection is free after the granted sends. */
  lanes?: number[];
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
  /** The current pace as a share of the ordinary limit. */
  pace: number;
  /** The current pace as a share of the limit of all sends. */
  paidPace: number;
  /** Epoch ms of the last 429 that started a flood wait, or null. */
  lastFloodAt: number | null;
}

/** A requester not heard from for this long no longer counts as sharing the timeline, in ms. */
const SHARE_MEMORY_MS = 500;
/** How far ahead a broadcast slot is granted, in ms. */
export const BULK_HORIZON_MS = 250;
/** How far ahead any slot is granted, in ms; a fresh scheduler grants nothing sooner than this. */
export const HORIZON_MS = 1000;

const us = (ms: number) => Math.ceil(ms * 1000);
/**
 * `t` rounded up to a whole number of spacings (µs). Slots sit on this grid: a slot placed where a
 * connection frees up, a little past the last one granted, would otherwise leave a gap of less than
 * a spacing that no later slot fits in, and those slivers cost about 2 % of the pace at 1,000/s.
 */
const onGrid = (t: number, spacing: number) => Math.ceil(t / spacing) * spacing;

/** Granted times (µs, ascending) that new ones must keep `spacing` away from. */
class Timeline {
  readonly times: number[] = [];

  /** Drops times that can no longer collide with one at `from` or later. */
  prune(from: number, spacing: number): void {
    let n = 0;
    while (n < this.times.length && (this.times[n] as number) <= from - spacing) n++;
    if (n) this.times.splice(0, n);
  }

  /** The earliest time from `t` at least `spacing` away from every time here. */
  fit(t: number, spacing: number): number {
    for (let i = this.#lowerBound(t - spacing + 1); i < this.times.length; i++) {
      const g = this.times[i] as number;
      if (g >= t + spacing) break;
      t = Math.max(t, g + spacing);
    }
    return t;
  }

  insert(t: number): void {
    this.times.splice(this.#lowerBound(t), 0, t);
  }

  /** Index of the first time >= `t`. */
  #lowerBound(t: number): number {
    let lo = 0;
    let hi = this.times.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.times[mid] as number) < t) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** Where a scheduler starts: what the one before it left (an evicted object's stored state). */
export interface SchedulerStart {
  now: number;
  epoch: number;
  blockedUntil: number;
  /** The paces when the last 429 cut them; absent: the targets. */
  pace?: number;
  paidPace?: number;
  lastFloodAt?: number | null;
}

export class SendScheduler {
  #limits: Limits;
  readonly #settings: PaceSettings;
  /** Every slot granted and still ahead: any two are a paced spacing apart. */
  #all = new Timeline();
  /** The slots of each own pace (a campaign slower than the bot). */
  #own = new Map<string, Timeline>();
  /** The next ordinary (not paid) send may not go before this (µs): the free limit's pace. */
  #nextFree = 0;
  /** Nothing is granted before this (µs): a fresh scheduler's first horizon, the end of a flood wait. */
  #floor: number;
  #blockedUntil: number;
  #epoch: number;
  #pace: number;
  #paidPace: number;
  #paceAt: number;
  #lastFloodAt: number | null = null;
  /** Requesters seen lately (epoch ms): how many share the timeline now. */
  readonly #requesters = new Map<string, number>();

  /**
   * A scheduler that may follow another whose grants are lost with it (an evicted object): it grants
   * nothing before `now + HORIZON_MS`, past anything the other could have granted, and starts a new
   * epoch (`epoch` is the last one known).
   */
  constructor(limits: Limits, settings: PaceSettings, start: SchedulerStart) {
    this.#limits = limits;
    this.#settings = settings;
    this.#epoch = start.epoch + 1;
    this.#blockedUntil = start.blockedUntil;
    this.#floor = us(Math.max(start.now + HORIZON_MS, start.blockedUntil));
    // The paces a 429 cut, kept by the evicted one: they climb back only after Telegram's quiet time.
    this.#pace = Math.min(settings.target, start.pace ?? settings.target);
    this.#paidPace = Math.min(settings.paidTarget, start.paidPace ?? settings.paidTarget);
    this.#paceAt = start.pace === undefined ? start.now : start.blockedUntil;
    this.#lastFloodAt = start.lastFloodAt ?? null;
  }

  setLimits(limits: Limits): void {
    this.#limits = limits;
  }

  state(now: number): GateState {
    this.#recover(now);
    return {
      epoch: this.#epoch,
      blockedUntil: this.#blockedUntil,
      pace: this.#pace,
      paidPace: this.#paidPace,
      lastFloodAt: this.#lastFloodAt,
    };
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
      this.#paidPace = Math.max(this.#settings.floor, this.#paidPace * this.#settings.decrease);
      this.#lastFloodAt = now;
    }
    this.#blockedUntil = Math.max(this.#blockedUntil, until);
    this.#all = new Timeline();
    this.#own = new Map();
    this.#floor = Math.max(this.#floor, us(this.#blockedUntil));
    this.#paceAt = Math.max(this.#paceAt, this.#blockedUntil);
    return this.state(now);
  }

  acquire(now: number, req: SlotRequest): SlotGrant {
    this.#recover(now);
    if (this.#blockedUntil > now) return { times: [], epoch: this.#epoch, blockedUntil: this.#blockedUntil };
    const anySpacing = Math.ceil(1e6 / (this.#limits.paidRate * this.#paidPace));
    const freeSpacing = Math.ceil(1e6 / (this.#limits.freeRate * this.#pace));
    const nowUs = us(now);
    this.#all.prune(nowUs, anySpacing);
    // An own pace matters only when it is slower than the bot's.
    const ownSpacing = req.pace ? us(req.pace.spacingMs) : 0;
    const own = req.pace && ownSpacing > anySpacing ? this.#ownTimeline(req.pace.key, nowUs, ownSpacing) : undefined;
    const window = req.priority === 'bulk' ? BULK_HORIZON_MS : HORIZON_MS;
    const asked = req.lanes?.length ? req.lanes : [now];
    // A sender far from the gate asks for lanes past the horizon (its grant takes that long to reach
    // it): counted from now only, it would be granted nothing, again and again. It gets half a window
    // past its first free connection, that counted at most a second ahead.
    const firstLane = Math.min(now + HORIZON_MS, ...asked);
    const horizon = us(Math.max(now + window, firstLane + window / 2));
    const hold = us(req.holdMs ?? 0);
    const lanes = asked.map(us);
    const start = Math.max(nowUs, this.#floor);
    const times: number[] = [];
    const count = Math.min(req.count, this.#share(now, req.requester, window, anySpacing));
    let t = start;
    while (times.length < count) {
      // The connection free first takes the next slot.
      let lane = 0;
      for (let i = 1; i < lanes.length; i++) if ((lanes[i] as number) < (lanes[lane] as number)) lane = i;
      t = Math.max(start, lanes[lane] as number);
      if (!req.paid) t = Math.max(t, this.#nextFree);
      // `chain`: where the campaign's own pace and the free limit's spacing put the send; `t`: the
      // earliest moment of the grid from there clear of every slot, less than a spacing later unless
      // other slots are in the way (then the chain moves on too). The chains keep their exact spacing:
      // rounding each send up to the grid never adds up along them.
      let chain = t;
      for (;;) {
        if (own) chain = own.fit(chain, ownSpacing);
        t = this.#all.fit(onGrid(chain, anySpacing), anySpacing);
        if (t - chain < anySpacing) break;
        chain = t - anySpacing + 1;
      }
      if (t > horizon) break;
      this.#all.insert(t);
      own?.insert(chain);
      times.push(t / 1000);
      if (!req.paid) this.#nextFree = chain + freeSpacing;
      lanes[lane] = t + Math.max(hold, 1);
    }
    times.sort((a, b) => a - b);
    const grant: SlotGrant = { times, epoch: this.#epoch };
    if (req.lanes?.length) grant.lanes = lanes.map((l) => l / 1000);
    if (times.length === count) return grant;
    // Short of slots: come back when the first one past the horizon is about to be due.
    return { ...grant, askAgainAt: Math.max(now + 1, t / 1000 - window) };
  }

  /** The most slots one request of `requester` gets while others ask too: its share of the window. */
  #share(now: number, requester: string | undefined, window: number, anySpacing: number): number {
    if (requester === undefined) return Number.POSITIVE_INFINITY;
    this.#requesters.set(requester, now);
    for (const [key, at] of this.#requesters) if (now - at > SHARE_MEMORY_MS) this.#requesters.delete(key);
    return Math.max(1, Math.ceil((window * 1000) / anySpacing / this.#requesters.size));
  }

  #ownTimeline(key: string, nowUs: number, spacing: number): Timeline {
    let timeline = this.#own.get(key);
    if (!timeline) {
      timeline = new Timeline();
      this.#own.set(key, timeline);
    }
    timeline.prune(nowUs, spacing);
    if (this.#own.size > 100) for (const [k, tl] of this.#own) if (!tl.times.length) this.#own.delete(k);
    return timeline;
  }

  /** The paces climb back towards their targets while Telegram has been quiet for `quietMs`. */
  #recover(now: number): void {
    const from = Math.max(this.#paceAt, this.#blockedUntil + this.#settings.quietMs);
    if (now <= from) return;
    const climb = ((now - from) / 1000) * this.#settings.recoveryPerSecond;
    this.#pace = Math.min(this.#settings.target, this.#pace + climb);
    this.#paidPace = Math.min(this.#settings.paidTarget, this.#paidPace + climb);
    this.#paceAt = now;
  }
}
