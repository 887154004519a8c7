import { DurableObject } from 'cloudflare:workers';
import { getConfig } from '../../workers/core/config';
import { SendScheduler, type SlotGrant, type SlotRequest } from './send-scheduler';

/**
 * The bot-wide send budget, one object per bot (`GATE.idFromName('bot')`). Every send of the bot
 * asks it for a slot; a 429 from Telegram blocks every sender until `retry_after` has passed. The
 * block survives restarts; the slot timeline lives in memory (it never reaches past one second).
 */
export class BotGate extends DurableObject<Env> {
  #scheduler: SendScheduler | undefined;
  /** Since this instance started (Prometheus counters may reset). */
  #granted = 0;
  #blocks = 0;

  #get(): SendScheduler {
    const config = getConfig(this.env);
    const limits = { freeRate: config.TELEGRAM_RATE_LIMIT, paidRate: config.TELEGRAM_PAID_RATE_LIMIT };
    this.#scheduler ??= new SendScheduler(limits, this.ctx.storage.kv.get<number>('blockedUntil') ?? 0);
    this.#scheduler.setLimits(limits);
    return this.#scheduler;
  }

  async acquire(req: SlotRequest): Promise<SlotGrant> {
    const grant = this.#get().acquire(Date.now(), req);
    this.#granted += grant.times.length;
    return grant;
  }

  /** Telegram said 429: nobody sends before `until` (epoch ms). */
  async block(until: number): Promise<void> {
    const scheduler = this.#get();
    this.#blocks++;
    scheduler.block(until);
    this.ctx.storage.kv.put('blockedUntil', scheduler.blockedUntil);
  }

  async blockedUntil(): Promise<number> {
    return this.#get().blockedUntil;
  }

  /** Slots granted and 429s reported since this instance started, and the current block. */
  async stats(): Promise<{ granted: number; blocks: number; blockedUntil: number }> {
    return { granted: this.#granted, blocks: this.#blocks, blockedUntil: this.#get().blockedUntil };
  }
}

/** The gate of this bot. */
export function botGate(env: Env): DurableObjectStub<BotGate> {
  return env.GATE.get(env.GATE.idFromName('bot'));
}
