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

/** Limits as {@link RateLimiter} reads them; 0 disables a limit. */
export interface RateLimits {
  /** Bot-wide sends per second without `allow_paid_broadcast`. */
  rateLimit: number;
  /** Bot-wide sends per second with `allow_paid_broadcast: true`. */
  paidRateLimit: number;
  /** Sends per second to one chat. */
  perChatPerSecond: number;
  /** Sends one chat can take back to back before `perChatPerSecond` applies. */
  perChatBurst: number;
}

/** Per-chat buckets are pruned once this many exist, so a million-chat broadcast does not keep them all. */
const PRUNE_AT = 10_000;

/**
 * The three buckets of the real API: one bot-wide for ordinary sends, one bot-wide for paid broadcasts, and
 * one per chat (which paid broadcasts still have to respect).
 */
export class RateLimiter {
  private limits: RateLimits;
  private bot: TokenBucket | undefined;
  private paid: TokenBucket | undefined;
  private readonly chats = new Map<number, TokenBucket>();

  constructor(limits: RateLimits, now: number) {
    this.limits = { ...limits };
    this.bot = limits.rateLimit > 0 ? new TokenBucket(limits.rateLimit, limits.rateLimit, now) : undefined;
    this.paid = limits.paidRateLimit > 0 ? new TokenBucket(limits.paidRateLimit, limits.paidRateLimit, now) : undefined;
  }

  /**
   * Takes a token from every bucket the send needs, or from none: returns 0 on success, otherwise the
   * `retry_after` to answer (whole seconds, at least 1) until every needed bucket has a token.
   */
  acquire(chatId: number, paid: boolean, now: number): number {
    const buckets: TokenBucket[] = [];
    const global = paid ? this.paid : this.bot;
    if (global) buckets.push(global);
    const chat = this.chatBucket(chatId, now);
    if (chat) buckets.push(chat);
    const wait = Math.max(0, ...buckets.map((b) => b.waitSeconds(now)));
    if (wait > 0) return Math.max(1, Math.ceil(wait));
    for (const b of buckets) b.take();
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
