/**
 * The rate limits of the real API as plain logic over explicit times (epoch ms), so they can be checked with a
 * fake clock: two bot-wide 1-second sliding windows and a token bucket per chat.
 */

/** The bot-wide windows are this long, in ms. */
const WINDOW_MS = 1000;

/** A token bucket: holds up to `capacity` tokens and regains `rate` tokens per second. */
export class TokenBucket {
  readonly capacity: number;
  readonly rate: number;
  private tokens: number;
  private last: number;

  /** Starts full. `rate` is tokens per second; `now` is epoch ms. */
  constructor(capacity: number, rate: number, now: number) {
    this.capacity = capacity;
    this.rate = rate;
    this.tokens = capacity;
    this.last = now;
  }

  private refill(now: number): void {
    // Arrival times are virtual (receipt + jittered latency), so one may be a little older than the last seen.
    if (now <= this.last) return;
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
  }

  /** Seconds until one whole token is available (0 when one is available now). */
  waitSeconds(now: number): number {
    this.refill(now);
    return this.tokens >= 1 ? 0 : (1 - this.tokens) / this.rate;
  }

  take(): void {
    this.tokens -= 1;
  }

  /** True once the bucket is full again, i.e. forgetting it changes nothing. */
  isIdle(now: number): boolean {
    this.refill(now);
    return this.tokens >= this.capacity;
  }
}

/** First index whose time is greater than `t` in an ascending array. */
function upperBound(times: number[], t: number): number {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((times[mid] as number) <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Stale times are dropped in batches of at least this many, so pruning is not a splice per send. */
const PRUNE_BATCH = 256;

/**
 * At most `limit` events in any window (t - 1 s, t]. Unlike a token bucket it never lets more than `limit`
 * through in any second, whatever the phase. Times may come slightly out of order (jittered arrivals decided
 * by timers), so they are kept sorted and a late one must also fit every window that already ends after it.
 */
export class SlidingWindow {
  readonly limit: number;
  /** Counted times, ascending; those older than `latest` - 2 windows are pruned. */
  private readonly times: number[] = [];
  private latest = Number.NEGATIVE_INFINITY;

  constructor(limit: number) {
    this.limit = limit;
  }

  private count(end: number): number {
    return upperBound(this.times, end) - upperBound(this.times, end - WINDOW_MS);
  }

  /** Ms until an event at `at` would fit (0: it fits now). */
  waitMs(at: number): number {
    const times = this.times;
    const inWindow = this.count(at);
    if (inWindow >= this.limit) {
      // The window frees once its oldest (inWindow - limit + 1) events have left it.
      const first = upperBound(times, at - WINDOW_MS);
      return (times[first + inWindow - this.limit] as number) + WINDOW_MS - at;
    }
    // Windows that end at a later event already counted also contain `at`.
    for (let i = upperBound(times, at); i < times.length && (times[i] as number) < at + WINDOW_MS; i++) {
      const end = times[i] as number;
      if (this.count(end) >= this.limit) return end - at + 1;
    }
    return 0;
  }

  add(at: number): void {
    const times = this.times;
    if (at >= this.latest) {
      this.latest = at;
      times.push(at);
    } else times.splice(upperBound(times, at), 0, at);
    const stale = upperBound(times, this.latest - 2 * WINDOW_MS);
    if (stale >= PRUNE_BATCH) times.splice(0, stale);
  }
}

/** Limits as {@link RateLimiter} reads them; 0 disables a limit. */
export interface RateLimits {
  /** Bot-wide sends per second without `allow_paid_broadcast`. */
  rateLimit: number;
  /** Bot-wide sends per second, paid or not. */
  paidRateLimit: number;
  /** Sends per second to one chat. */
  perChatPerSecond: number;
  /** Sends one chat can take back to back before `perChatPerSecond` applies. */
  perChatBurst: number;
}

/** Per-chat buckets are pruned once this many exist, so a million-chat broadcast does not keep them all. */
const PRUNE_AT = 10_000;

function retryAfterSeconds(waitMs: number): number {
  return waitMs > 0 ? Math.max(1, Math.ceil(waitMs / 1000)) : 0;
}

/**
 * The limits of the real API: a "free" window for sends without `allow_paid_broadcast` (`rateLimit`), an
 * "all" window every send counts in (`paidRateLimit`), and a bucket per chat, which paid broadcasts still
 * have to respect. Private chats tolerate short bursts, so the per-chat limit stays a token bucket.
 */
export class RateLimiter {
  private readonly limits: RateLimits;
  private readonly free: SlidingWindow | undefined;
  private readonly all: SlidingWindow | undefined;
  private readonly chats = new Map<number, TokenBucket>();

  constructor(limits: RateLimits) {
    this.limits = { ...limits };
    this.free = limits.rateLimit > 0 ? new SlidingWindow(limits.rateLimit) : undefined;
    this.all = limits.paidRateLimit > 0 ? new SlidingWindow(limits.paidRateLimit) : undefined;
  }

  /**
   * Counts a send arriving at `at` in every bot-wide window it needs, or in none: returns 0 when counted,
   * otherwise the `retry_after` to answer (whole seconds, at least 1) until those windows have room.
   */
  admit(paid: boolean, at: number): number {
    const windows = paid ? [this.all] : [this.free, this.all];
    const wait = Math.max(0, ...windows.map((w) => w?.waitMs(at) ?? 0));
    if (wait > 0) return retryAfterSeconds(wait);
    for (const w of windows) w?.add(at);
    return 0;
  }

  /** Takes a token from the chat's bucket: 0 on success, otherwise the `retry_after` to answer. */
  admitChat(chatId: number, at: number): number {
    const bucket = this.chatBucket(chatId, at);
    if (!bucket) return 0;
    const wait = bucket.waitSeconds(at);
    if (wait > 0) return Math.max(1, Math.ceil(wait));
    bucket.take();
    return 0;
  }

  private chatBucket(chatId: number, now: number): TokenBucket | undefined {
    const { perChatPerSecond, perChatBurst } = this.limits;
    if (perChatPerSecond <= 0) return undefined;
    let bucket = this.chats.get(chatId);
    if (!bucket) {
      if (this.chats.size >= PRUNE_AT) {
        for (const [id, b] of this.chats) if (b.isIdle(now)) this.chats.delete(id);
      }
      bucket = new TokenBucket(Math.max(1, perChatBurst), perChatPerSecond, now);
      this.chats.set(chatId, bucket);
    }
    return bucket;
  }
}
