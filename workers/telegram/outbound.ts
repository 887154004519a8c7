import { Api, type Transformer } from 'grammy';
import type { ApiResponse } from 'grammy/types';
import { botGate } from '../../durable-objects/gate/gate.do';
import { type GateState, type Priority, type SlotGrant, type SlotRequest, STALE_SLOT_MS } from '../../durable-objects/gate/send-scheduler';
import { semaphore, sleepUntil } from '../core/concurrency';
import type { Config } from '../core/config';
import { errorMessage } from '../core/logger';
import { classifyAnswer, classifyFailure, type Outcome } from './classify';

export type { Outcome } from './classify';

/**
 * Bot API requests one Worker invocation keeps waiting at once. A deployed Worker keeps at most 6
 * outbound connections waiting for response headers per invocation (a 7th waits inside the runtime);
 * the local runtime has no such cap, so this module enforces it everywhere.
 */
export const MAX_CONNECTIONS = 6;
/**
 * A Bot API call not answered within this long is abandoned, its outcome unknown. Shorter than every
 * claim that protects a send (a campaign's ledger claim, a notification's lease).
 */
const CALL_TIMEOUT_MS = 10_000;
/** A send waits out a 429 of at most this long; a longer one is answered `retry_after` at once. Default 10 s */
const MAX_WAIT_MS = 10_000;
/** A send whose slot is further ahead than this watches the gate until it (one request to the gate). */
const WATCH_AHEAD_MS = 20;
/** Calls that failed without an answer, in a row, after which the isolate holds off Telegram for a while. */
const UNREACHABLE_AFTER = 3;
const UNREACHABLE_PAUSE_MS = 5_000;
/** Methods that put a message in a chat or change one: the ones Telegram's limits count. */
const MESSAGE_METHOD = /^(send|copy|forward|edit)/;
/**
 * Names the Worker invocation a request belongs to. Telegram ignores it; the Telegram stand-in holds
 * each invocation to production's connection cap with it.
 */
const INVOCATION_HEADER = 'x-flarecast-invocation';

/** Why a slot is handed back when its connection freed up too late. */
export const STALE = 'slot went stale';
/** Why a send did not leave while Telegram looked unreachable. */
const UNREACHABLE = 'Telegram looked unreachable';

/** A moment granted by the gate for one send. */
export interface Slot {
  /** Epoch ms the send may leave. */
  at: number;
  /** The gate's epoch when it was granted: a 429 since then voids it. */
  epoch: number;
  /** Epoch ms this isolate received the grant. */
  receivedAt: number;
}

/**
 * What this isolate knows of the bot's flood state, shared by every invocation it runs: a 429 seen
 * here voids the slots received before it at once, before the gate has even heard of it; other
 * isolates learn of it from the gate's `watch`: a campaign sender keeps one open, and a send waiting
 * for a slot more than `WATCH_AHEAD_MS` ahead watches until it.
 */
const isolate = { epoch: 0, blockedUntil: 0, floodSeenAt: 0, failuresInARow: 0, unreachableUntil: 0, probing: false };

/** Takes in what a grant or the gate says: a newer epoch voids older slots; a block stops sends. */
export function learnGate(state: { epoch: number; blockedUntil?: number }): void {
  isolate.epoch = Math.max(isolate.epoch, state.epoch);
  if (state.blockedUntil !== undefined) isolate.blockedUntil = Math.max(isolate.blockedUntil, state.blockedUntil);
}

/** Telegram answered 429: slots received before now are void, and nothing leaves for a second until its `retry_after` is read. */
function holdOff(now: number): void {
  isolate.floodSeenAt = now;
  isolate.blockedUntil = Math.max(isolate.blockedUntil, now + 1000);
}

/** Why a slot may no longer be used, or undefined while it may. */
function slotRefusal(slot: Slot, now: number): string | undefined {
  if (slot.epoch < isolate.epoch || slot.receivedAt <= isolate.floodSeenAt) return 'slot voided by a 429';
  if (now < isolate.blockedUntil) return 'the bot is waiting out a 429';
  // Before staleness: while sends are held off, that is why this one did not leave, however late
  // its slot came (a busy runtime makes slots stale too).
  if (heldOff(now)) return UNREACHABLE;
  if (now - slot.at > STALE_SLOT_MS) return STALE;
  return undefined;
}

/**
 * Calls that failed without a Bot API answer, again and again: Telegram is unreachable from here, and
 * each further try might still land (so it would count `unknown`). Sends are held off for a while;
 * then one goes as a probe, and the first answer of any call lets every send through again.
 */
function unreachable(now: number): boolean {
  if (isolate.failuresInARow < UNREACHABLE_AFTER) return false;
  if (heldOff(now)) return true;
  isolate.probing = true;
  return false;
}

/** Sends are held off (Telegram looked unreachable) and no probe is due from this one. */
function heldOff(now: number): boolean {
  return isolate.failuresInARow >= UNREACHABLE_AFTER && (now < isolate.unreachableUntil || isolate.probing);
}

function noteAnswer(outcome: Outcome, now: number): void {
  // A token Telegram refuses holds sends off like an unreachable Telegram: probes until it is fixed.
  if (outcome.kind === 'unknown' || (outcome.kind === 'retryable' && outcome.botWide)) {
    isolate.failuresInARow++;
    if (isolate.failuresInARow >= UNREACHABLE_AFTER) isolate.unreachableUntil = now + UNREACHABLE_PAUSE_MS;
  } else isolate.failuresInARow = 0;
  isolate.probing = false;
}

export interface SendOptions {
  /** A slot granted before (a campaign's): used as is, or handed back as `retryable`. Default: one is taken now */
  slot?: Slot;
  /** Default `transactional` */
  priority?: Priority;
  /** Sent with `allow_paid_broadcast`. Default false */
  paid?: boolean;
}

interface GatePort {
  acquire(req: SlotRequest): Promise<SlotGrant>;
  block(until: number): Promise<GateState>;
  watch(epoch: number, until?: number): Promise<GateState>;
}

/**
 * The one way the Worker talks to the Bot API: campaign sends, notifications, previews, alerts, card
 * edits and bot replies all go through an `Outbound`. A message takes a slot from the bot-wide gate,
 * is checked against the isolate's flood state right before it leaves, is sent with a timeout, and
 * its answer is classified once (`classify.ts`); a 429 is reported to the gate. Nothing is retried
 * here: what may have reached Telegram is `unknown`, and only the caller decides about the rest.
 *
 * One per Worker invocation: it holds that invocation's connection cap.
 */
export class Outbound {
  readonly #base: string;
  readonly #gate: GatePort;
  readonly #connections = semaphore(MAX_CONNECTIONS);
  readonly #invocation = crypto.randomUUID();
  /** Calls on the wire and when each is abandoned (epoch ms). */
  readonly #calls = new Map<AbortController, number>();
  #watchdog: ReturnType<typeof setInterval> | undefined;

  constructor(config: Pick<Config, 'BOT_TOKEN' | 'TELEGRAM_API_ROOT'>, env: Env) {
    this.#base = `${config.TELEGRAM_API_ROOT.replace(/\/+$/, '')}/bot${config.BOT_TOKEN}/`;
    this.#gate = botGate(env);
  }

  /** A message method (send*, copy*, forward*, edit*): a slot of the bot-wide budget, then the call. */
  async send(method: string, params: object, opts: SendOptions = {}): Promise<Outcome> {
    if (opts.slot) {
      const slot = opts.slot;
      return this.#connections(() => this.#fire(method, params, slot));
    }
    // A slot that went stale or was voided before its turn never left: take another. While Telegram
    // looks unreachable another slot would be held off too: the caller hears of it at once.
    for (let attempt = 0; ; attempt++) {
      const slot = await this.#takeSlot(opts.paid ?? false, opts.priority ?? 'transactional');
      if (!('at' in slot)) return slot;
      const outcome = await this.#connections(() => this.#fire(method, params, slot));
      if (outcome.kind !== 'retryable' || outcome.reason === UNREACHABLE || outcome.botWide || attempt >= 4) return outcome;
    }
  }

  /**
   * Keeps a watch on the gate open until the returned function is called, so a 429 that another
   * isolate reports voids the slots this one holds as soon as the gate hears of it (without it they
   * would go out into the flood wait until this isolate's next grant, or its own 429). For campaign
   * senders, which hold slots ahead all the time; a single send waiting for its slot watches until it.
   */
  watchFlood(): () => void {
    let watching = true;
    void (async () => {
      while (watching) {
        try {
          learnGate(await this.#gate.watch(isolate.epoch));
        } catch {
          // The gate was replaced (its next grant carries the new epoch): watch again in a moment.
          await sleepUntil(Date.now() + 1000);
        }
      }
    })();
    return () => {
      watching = false;
    };
  }

  /** Any other method (getMe, answerCallbackQuery, setWebhook, ...): no slot. */
  call(method: string, params: object = {}): Promise<Outcome> {
    return this.#connections(() => this.#fire(method, params));
  }

  /** A grammY transformer that routes every call of an `Api` through this outbound path. */
  transformer(): Transformer {
    return async (_prev, method, payload) => {
      const outcome = MESSAGE_METHOD.test(method) ? await this.send(method, payload ?? {}) : await this.call(method, payload ?? {});
      return toApiResponse(outcome) as ApiResponse<never>;
    };
  }

  /**
   * Aborts `call` once it has taken `CALL_TIMEOUT_MS`. One watchdog timer per outbound path rather
   * than a timer per call: at 1,000 sends a second, a 10-second timer each would keep 10,000 timers
   * alive in the isolate, and the runtime slows down with them.
   */
  #deadline(call: AbortController): AbortSignal {
    this.#calls.set(call, Date.now() + CALL_TIMEOUT_MS);
    this.#watchdog ??= setInterval(() => {
      const now = Date.now();
      for (const [c, deadline] of this.#calls)
        if (deadline <= now) {
          c.abort(new Error(`no answer within ${CALL_TIMEOUT_MS / 1000} s`));
          this.#calls.delete(c);
        }
      if (!this.#calls.size) {
        clearInterval(this.#watchdog);
        this.#watchdog = undefined;
      }
    }, 1000);
    return call.signal;
  }

  /**
   * Waits for a slot; while the bot waits out a 429 longer than `MAX_WAIT_MS`, says so at once. A gate
   * that does not answer (reset, overloaded) gives no slot: the message surely did not leave.
   */
  async #takeSlot(paid: boolean, priority: Priority): Promise<Slot | Extract<Outcome, { kind: 'retry_after' | 'retryable' }>> {
    try {
      return await this.#slot(paid, priority);
    } catch (err) {
      return { kind: 'retryable', reason: `the gate did not answer: ${errorMessage(err)}` };
    }
  }

  async #slot(paid: boolean, priority: Priority): Promise<Slot | Extract<Outcome, { kind: 'retry_after' }>> {
    for (;;) {
      const now = Date.now();
      if (isolate.blockedUntil - now > MAX_WAIT_MS)
        return { kind: 'retry_after', until: isolate.blockedUntil, reason: 'the bot is waiting out a 429' };
      if (isolate.blockedUntil > now) await sleepUntil(isolate.blockedUntil);
      const grant = await this.#gate.acquire({ count: 1, paid, priority });
      const receivedAt = Date.now();
      learnGate(grant);
      const at = grant.times[0];
      if (at !== undefined) {
        // A slot a while ahead: a 429 another isolate reports meanwhile must void it before it is used.
        if (at - receivedAt > WATCH_AHEAD_MS) void this.#gate.watch(grant.epoch, at).then(learnGate, () => {});
        await sleepUntil(at);
        return { at, epoch: grant.epoch, receivedAt };
      }
      if (grant.blockedUntil === undefined) await sleepUntil(grant.askAgainAt ?? receivedAt + 50);
    }
  }

  async #fire(method: string, params: object, slot?: Slot): Promise<Outcome> {
    const refusal = slot ? slotRefusal(slot, Date.now()) : undefined;
    if (refusal) return { kind: 'retryable', reason: refusal };
    if (slot && unreachable(Date.now())) return { kind: 'retryable', reason: UNREACHABLE };
    const call = new AbortController();
    let outcome: Outcome;
    try {
      const res = await fetch(this.#base + method, {
        method: 'POST',
        headers: { 'content-type': 'application/json', [INVOCATION_HEADER]: this.#invocation },
        body: JSON.stringify(params),
        signal: this.#deadline(call),
      });
      // A 429 stops this isolate's sends from its status line on, not once its body has been read.
      if (res.status === 429) holdOff(Date.now());
      outcome = classifyAnswer(res.status, await res.text(), Date.now());
    } catch (err) {
      outcome = classifyFailure(err);
    } finally {
      this.#calls.delete(call);
    }
    noteAnswer(outcome, Date.now());
    if (outcome.kind === 'retry_after') {
      holdOff(Date.now());
      isolate.blockedUntil = Math.max(isolate.blockedUntil, outcome.until);
      // The gate not reached, the caller still learns the outcome (this isolate holds off by itself).
      await this.#gate.block(outcome.until).then(learnGate, () => {});
    }
    return outcome;
  }
}

/** An outcome grammY cannot take as a Bot API answer: the call may or may not have happened. */
export class TelegramCallError extends Error {
  override readonly name = 'TelegramCallError';
  readonly outcome: Extract<Outcome, { kind: 'unknown' | 'retryable' }>;

  constructor(outcome: Extract<Outcome, { kind: 'unknown' | 'retryable' }>) {
    super(`${outcome.kind === 'unknown' ? 'Telegram may have carried it out' : 'not sent'}: ${outcome.reason}`);
    this.outcome = outcome;
  }
}

/** The Bot API answer an outcome stands for, so grammY raises its usual `GrammyError`s. */
function toApiResponse(outcome: Outcome): ApiResponse<unknown> {
  switch (outcome.kind) {
    case 'ok':
      return { ok: true, result: outcome.result };
    case 'blocked':
      return { ok: false, error_code: 403, description: outcome.reason };
    case 'permanent':
      return { ok: false, error_code: outcome.code, description: outcome.reason };
    case 'retry_after': {
      const retryAfter = Math.max(1, Math.ceil((outcome.until - Date.now()) / 1000));
      return { ok: false, error_code: 429, description: outcome.reason, parameters: { retry_after: retryAfter } };
    }
    default:
      throw new TelegramCallError(outcome);
  }
}

const outbounds = new WeakMap<Api, Outbound>();

/** A grammY `Api` whose every call goes through a fresh `Outbound` (one per invocation). */
export function botApi(config: Pick<Config, 'BOT_TOKEN' | 'TELEGRAM_API_ROOT'>, env: Env): Api {
  const api = new Api(config.BOT_TOKEN);
  const outbound = new Outbound(config, env);
  api.config.use(outbound.transformer());
  outbounds.set(api, outbound);
  return api;
}

/** The outbound path behind an `Api` made by `botApi`: its outcomes without grammY's errors, same connections. */
export function outboundOf(api: Api): Outbound {
  const outbound = outbounds.get(api);
  if (!outbound) throw new Error('this Api was not made by botApi: it has no outbound path');
  return outbound;
}
