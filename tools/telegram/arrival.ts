/**
 * What happens to a send when it reaches the stand-in, in the order senders meet it at Telegram:
 * flood wait (429) → bot-wide windows (429) → counted → validation (400/403) → per-chat limit (429) →
 * `failNext`/`failEvery` → delivered. Everything is decided at the send's virtual arrival time, so the stand-in's
 * own event-loop lag neither invents nor hides bursts.
 */
import type { ApiReply } from './api.ts';
import { ApiFailure, errorReply } from './api.ts';
import type { Params } from './body.ts';
import { bool } from './body.ts';
import type { SendPlan } from './sends.ts';
import { commitSend, planSend } from './sends.ts';
import type { Arrival, FailEvery, FailNext, FloodWait, State } from './state.ts';

/** When a request left its sender and when it arrived, epoch ms. */
export interface Timing {
  /** When it left: received by the stand-in, or given a connection when its invocation had to wait for one. */
  sentAt: number;
  /** `sentAt` plus the inbound half of the latency, jitter included: where limits are counted. */
  at: number;
}

/** An answer, and the flood wait a 429 belongs to (its first written answer is what senders must obey). */
export interface Decision {
  reply: ApiReply;
  flood?: FloodWait;
}

function tooManyRequests(state: State, retryAfter: number): ApiReply {
  state.stats.rejected429 += 1;
  return errorReply(429, `Too Many Requests: retry after ${retryAfter}`, retryAfter);
}

function secondsLeft(flood: FloodWait, at: number): number {
  return Math.max(1, Math.ceil((flood.until - at) / 1000));
}

/** The flood wait `at` falls in, if any. */
export function activeFlood(state: State, at: number): FloodWait | undefined {
  const f = state.flood;
  return f && at >= f.start && at < f.until ? f : undefined;
}

/** Starts a flood wait of `seconds` at `at`, or stretches the running one to end no earlier than that. */
function startFlood(state: State, at: number, seconds: number): FloodWait {
  const until = at + seconds * 1000;
  const running = activeFlood(state, at);
  if (running) {
    running.until = Math.max(running.until, until);
    return running;
  }
  state.stats.floods += 1;
  state.flood = { start: at, until };
  return state.flood;
}

/** A flood wait of `seconds` from now, as Telegram may impose at any time (`POST /__control/flood`). */
export function forceFlood(state: State, seconds: number): FloodWait {
  return startFlood(state, Date.now(), seconds);
}

/** A send arriving during a flood wait: refused with the time left, which it lengthens, as Telegram does. */
function refuseInFlood(state: State, flood: FloodWait, t: Timing): Decision {
  state.stats.arrivedDuringFlood += 1;
  if (flood.answeredAt !== undefined && t.sentAt > flood.answeredAt) {
    state.stats.sentAfterFloodAnswered += 1;
    state.stats.sentAfterFloodAnsweredMaxMs = Math.max(state.stats.sentAfterFloodAnsweredMaxMs, t.sentAt - flood.answeredAt);
  }
  flood.until += state.settings.floodPenaltyMs;
  return { reply: tooManyRequests(state, secondsLeft(flood, t.at)), flood };
}

/** The configured failure for this send, if any; `failEvery` counts every send that gets this far. */
function nextFailure(state: State): FailNext | FailEvery | undefined {
  const s = state.settings;
  let due: FailEvery | undefined;
  if (s.failEvery) {
    state.failEveryCount += 1;
    if (state.failEveryCount % s.failEvery.every === 0) due = s.failEvery;
  }
  const next = s.failNext;
  if (next && next.count > 0) {
    next.count -= 1;
    if (next.count === 0) s.failNext = undefined;
    return next;
  }
  return due;
}

function decide(state: State, token: string, method: string, params: Params | undefined, t: Timing, arrival: Arrival): Decision {
  const flood = activeFlood(state, t.at);
  if (flood) return refuseInFlood(state, flood, t);
  const retryAfter = state.limiter.admit(arrival.paid, t.at);
  if (retryAfter > 0) {
    const started = startFlood(state, t.at, retryAfter);
    return { reply: tooManyRequests(state, retryAfter), flood: started };
  }
  // Telegram has processed the request from here on, whatever it answers.
  arrival.counted = true;
  if (params === undefined) return { reply: errorReply(400, "Bad Request: can't parse request body") };
  let p: SendPlan;
  try {
    p = planSend(state, method, params);
  } catch (e) {
    if (e instanceof ApiFailure) return { reply: e.reply };
    throw e;
  }
  const chatWait = state.limiter.admitChat(p.chatId, t.at);
  if (chatWait > 0) return { reply: tooManyRequests(state, chatWait) };
  const failure = nextFailure(state);
  if (failure?.status === 429) {
    const wait = failure.retryAfter ?? 1;
    return { reply: tooManyRequests(state, wait), flood: startFlood(state, t.at, wait) };
  }
  if (failure) {
    if (failure.delivered) {
      commitSend(state, token, method, params, p, t.at);
      state.stats.failedAfterDelivery += 1;
    }
    return { reply: errorReply(failure.status, failure.status === 500 ? 'Internal Server Error' : 'Bad Gateway') };
  }
  const reply = commitSend(state, token, method, params, p, t.at);
  state.stats.sends += 1;
  return { reply };
}

/**
 * Decides a send method call arriving at `t.at` and records it in `arrivals`. `params` is undefined when the
 * body could not be parsed: such a send still counts (as a free one) and is answered 400.
 */
export function arriveSend(state: State, token: string, method: string, params: Params | undefined, t: Timing): Decision {
  const arrival: Arrival = { at: t.at, paid: params !== undefined && bool(params, 'allow_paid_broadcast'), status: 0, counted: false };
  state.arrivals.push(arrival);
  const decision = decide(state, token, method, params, t, arrival);
  arrival.status = decision.reply.status;
  return decision;
}
