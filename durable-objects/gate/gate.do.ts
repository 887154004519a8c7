import { DurableObject } from 'cloudflare:workers';
import { getConfig } from '../../workers/core/config';
import { DEFAULT_PACE, type GateState, type SchedulerStart, SendScheduler, type SlotGrant, type SlotRequest } from './send-scheduler';

/** How long a `watch` stays open with no flood wait: the watcher opens another. */
const WATCH_MS = 30_000;

/** The block, the epoch and the paces a 429 cut (written only on a new flood wait). */
type Stored = Omit<SchedulerStart, 'now'>;

/**
 * The bot-wide send budget, one object per bot (`GATE.idFromName('bot')`). Every send of the bot
 * asks it for a slot; a 429 from Telegram blocks every sender until `retry_after` has passed and
 * voids the slots granted before it. The block, the epoch and the cut paces are stored (written only on
 * a new flood wait); the timeline is not: a fresh instance grants nothing within the first horizon, so an
 * evicted instance's grants can never overlap a new one's.
 */
export class BotGate extends DurableObject<Env> {
  #scheduler: SendScheduler | undefined;
  /** Since this instance started (Prometheus counters may reset). */
  #granted = 0;
  #reports = 0;
  /** Open `watch` calls, answered at once when a new flood wait is reported. */
  readonly #watchers = new Set<(state: GateState) => void>();

  #get(): SendScheduler {
    const config = getConfig(this.env);
    const limits = { freeRate: config.TELEGRAM_RATE_LIMIT, paidRate: config.TELEGRAM_PAID_RATE_LIMIT };
    if (!this.#scheduler) {
      const stored = this.ctx.storage.kv.get<Stored>('gate') ?? { epoch: 0, blockedUntil: 0 };
      this.#scheduler = new SendScheduler(
        limits,
        { ...DEFAULT_PACE, target: config.TELEGRAM_PACE, paidTarget: config.TELEGRAM_PAID_PACE },
        { now: Date.now(), ...stored },
      );
      this.#store(this.#scheduler.state(Date.now()));
    }
    this.#scheduler.setLimits(limits);
    return this.#scheduler;
  }

  #store({ epoch, blockedUntil, pace, paidPace, lastFloodAt }: GateState): void {
    this.ctx.storage.kv.put('gate', { epoch, blockedUntil, pace, paidPace, lastFloodAt } satisfies Stored);
  }

  async acquire(req: SlotRequest): Promise<SlotGrant> {
    const grant = this.#get().acquire(Date.now(), req);
    this.#granted += grant.times.length;
    return grant;
  }

  /** Telegram said 429: nobody sends before `until` (epoch ms). */
  async block(until: number): Promise<GateState> {
    const scheduler = this.#get();
    this.#reports++;
    const before = scheduler.state(Date.now());
    const after = scheduler.block(Date.now(), until);
    if (after.epoch !== before.epoch || after.blockedUntil !== before.blockedUntil) this.#store(after);
    if (after.epoch !== before.epoch) for (const answer of [...this.#watchers]) answer(after);
    return after;
  }

  /**
   * Answers as soon as the epoch is past `epoch` (a 429 was reported), or at `until` (epoch ms, at
   * most `WATCH_MS` away). A sender holding slots keeps one watch open, and a send waiting for a slot
   * ahead watches until it, so a 429 seen in any other isolate voids their slots within a round trip
   * instead of at their next grant.
   */
  async watch(epoch: number, until = Date.now() + WATCH_MS): Promise<GateState> {
    const current = this.#get().state(Date.now());
    if (current.epoch > epoch) return current;
    return new Promise((resolve) => {
      const answer = (state: GateState) => {
        clearTimeout(timer);
        this.#watchers.delete(answer);
        resolve(state);
      };
      const timer = setTimeout(() => answer(this.#get().state(Date.now())), Math.min(WATCH_MS, until - Date.now()));
      this.#watchers.add(answer);
    });
  }

  /** The pace, the current block and what was granted and reported since this instance started. */
  async stats(): Promise<GateState & { granted: number; reports: number }> {
    return { ...this.#get().state(Date.now()), granted: this.#granted, reports: this.#reports };
  }
}

/** The gate of this bot. */
export function botGate(env: Env): DurableObjectStub<BotGate> {
  return env.GATE.get(env.GATE.idFromName('bot'));
}
