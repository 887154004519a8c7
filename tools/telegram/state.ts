import { RateLimiter } from './buckets.ts';
import { ConnectionCap, WORKER_CONNECTIONS_PER_INVOCATION } from './connections.ts';

/** Options of the stand-in; every field can also be changed at runtime through `configure`. */
export interface StandInOptions {
  /** Port to listen on; 0 picks a free one. Default 0. Ignored by `configure`. */
  port?: number;
  /** Interface to bind. Default '127.0.0.1'. Ignored by `configure`. */
  host?: string;
  /** The only bot token accepted. Default: any token shaped /^\d+:[A-Za-z0-9_-]+$/. */
  token?: string;
  /**
   * Round trip of every Bot API call, in ms; a range picks uniformly per request. Half of it is spent before the
   * request arrives (where limits are counted), half before the answer is written. Default 0.
   */
  latencyMs?: number | { min: number; max: number };
  /**
   * Spread of the inbound half of the latency, in ms: each request arrives uniformly within ± this much of
   * `latencyMs / 2` after it left (never before), so network jitter moves sends between windows. Default 0.
   */
  jitterMs?: number;
  /**
   * Bot-wide sends without `allow_paid_broadcast` in any 1-second sliding window, counted at arrival (400/403
   * answers included). A send that finds the window full is answered 429 and starts a flood wait. Default 30;
   * 0 = unlimited.
   */
  rateLimit?: number;
  /** Bot-wide sends, paid or not, in any 1-second sliding window. Default 1000; 0 = unlimited. */
  paidRateLimit?: number;
  /** Sends per second to one chat. Default 1; 0 = unlimited. */
  perChatPerSecond?: number;
  /** Sends one chat can take back to back before `perChatPerSecond` applies. Default 3. */
  perChatBurst?: number;
  /**
   * How much every send arriving during a flood wait lengthens it, in ms; its 429 reports the time left after
   * that. Default 100.
   */
  floodPenaltyMs?: number;
  /**
   * Requests with the same `x-flarecast-invocation` header in flight at once, as a deployed Worker allows per
   * invocation; more wait (FIFO) before they leave. Requests without the header are not capped. Default 6; 0 = no cap.
   */
  maxConnectionsPerInvocation?: number;
  /** Chats answering 403 `Forbidden: bot was blocked by the user`. */
  blockedChats?: number[];
  /** Chats answering 403 `Forbidden: user is deactivated`. */
  deactivatedChats?: number[];
  /** Chats answering 400 `Bad Request: chat not found`. */
  missingChats?: number[];
  /** Messages that copyMessage/forwardMessage cannot find (400). */
  deletedMessages?: Array<{ chat_id: number; message_id: number }>;
  /**
   * The next `count` sends that pass validation and the per-chat limit answer `status`. 429 starts a flood wait
   * of `retryAfter` seconds (default 1). With `delivered: true` a 500/502 comes after the message was sent
   * (recorded in `deliveries`), as when Telegram or a proxy fails after delivering. `null` clears it.
   */
  failNext?: FailNext | null;
  /**
   * Every `every`-th send that passes validation and the per-chat limit answers `status` (deterministic,
   * counted from when it is set or from `reset`), after delivering when `delivered` is true. Stays on until set
   * to `null`.
   */
  failEvery?: FailEvery | null;
}

export interface FailNext {
  status: 500 | 502 | 429;
  count: number;
  /** Seconds of the flood wait a 429 starts. Default 1. */
  retryAfter?: number;
  /** 500/502 only: deliver the message, then answer the error. Default false. */
  delivered?: boolean;
}

export interface FailEvery {
  status: 500 | 502;
  /** Every how many sends; 1 fails them all. */
  every: number;
  /** Deliver the message, then answer the error. Default false. */
  delivered?: boolean;
}

/** One send as it arrived, whatever its answer. */
export interface Arrival {
  /** Virtual arrival time, epoch ms: when the request left plus its (jittered) inbound latency. */
  at: number;
  paid: boolean;
  /** HTTP status answered. */
  status: number;
  /** Whether it took a place in the bot-wide windows (false for sends refused by a flood wait or a full window). */
  counted: boolean;
}

/** One successfully sent message (a media group records one per message). */
export interface Delivery {
  /** Position in the stand-in's event order, shared with `calls`; starts at 1 and never restarts. */
  seq: number;
  method: string;
  chat_id: number;
  message_id: number;
  text?: string;
  caption?: string;
  /** True when the call had `allow_paid_broadcast: true`. */
  paid: boolean;
  /** When the send arrived (virtual arrival time, see {@link Arrival}), epoch ms. */
  at: number;
  /** The call's parameters as received (form fields stay strings, JSON-typed fields are decoded). */
  params: Record<string, unknown>;
}

/** A call to a method that is not a send (edits, callbacks, webhook and command setup...). */
export interface Call {
  seq: number;
  method: string;
  params: Record<string, unknown>;
  /** HTTP status of the answer. */
  status: number;
  at: number;
}

/** Request counters since start or the last `reset`. */
export interface Stats {
  /** Every request under /bot<token>/, including 401 and 404. */
  requests: number;
  /** Send calls answered with success (a media group counts once). */
  sends: number;
  /** Answers with HTTP 429. */
  rejected429: number;
  /** Flood waits started (by a full window, a `failNext` 429 or `forceFlood`). */
  floods: number;
  /** Sends that arrived during a flood wait (each was answered 429 and lengthened the wait). */
  arrivedDuringFlood: number;
  /**
   * Of `arrivedDuringFlood`, sends that left after the flood wait's first 429 had been written back: their
   * sender could have known, so they break "one 429 stops the whole bot".
   */
  sentAfterFloodAnswered: number;
  /**
   * How long after the first 429 had been written back the latest of those left, in ms: a send within
   * a millisecond or two of it left before its sender could have read the 429 (the answer was still
   * on its way); one a round trip later ignored it.
   */
  sentAfterFloodAnsweredMaxMs: number;
  /** Sends delivered and then answered 500/502 (`failNext`/`failEvery` with `delivered: true`). */
  failedAfterDelivery: number;
  /** Highest number of requests of one `x-flarecast-invocation` in flight at once. */
  maxInFlightPerInvocation: number;
  /** Requests that waited for a connection of their invocation. */
  connectionWaits: number;
  /** Calls per known method name, whatever their outcome. */
  byMethod: Record<string, number>;
}

/** A message as the stand-in remembers it, for copy, forward and edit. */
export interface TgMessage {
  message_id: number;
  date: number;
  chat: Record<string, unknown>;
  text?: string;
  caption?: string;
  entities?: unknown;
  caption_entities?: unknown;
  reply_markup?: unknown;
  [key: string]: unknown;
}

/** A flood wait: every send arriving in [start, until) is refused and lengthens it. */
export interface FloodWait {
  start: number;
  until: number;
  /** When its first 429 was written back (real time, epoch ms); unset until then. */
  answeredAt?: number;
}

interface Webhook {
  url: string;
  /** Token of the setWebhook call, used to run a webhook reply (`{ method, ... }` in the response body). */
  token: string;
  secretToken?: string;
  maxConnections: number;
  allowedUpdates?: unknown;
  lastErrorDate?: number;
  lastErrorMessage?: string;
}

/** Options after defaults, with chat lists as sets for O(1) lookups. */
export interface Settings {
  token?: string;
  latency: { min: number; max: number };
  jitterMs: number;
  rateLimit: number;
  paidRateLimit: number;
  perChatPerSecond: number;
  perChatBurst: number;
  floodPenaltyMs: number;
  maxConnectionsPerInvocation: number;
  blocked: Set<number>;
  deactivated: Set<number>;
  missing: Set<number>;
  /** `${chat_id}:${message_id}` keys from `deletedMessages`. */
  deleted: Set<string>;
  failNext?: FailNext;
  failEvery?: FailEvery;
}

export interface State {
  settings: Settings;
  deliveries: Delivery[];
  calls: Call[];
  stats: Stats;
  arrivals: Arrival[];
  limiter: RateLimiter;
  connections: ConnectionCap;
  /** The current or last flood wait. */
  flood?: FloodWait;
  /** Sends that reached the `failEvery` check since it was set or reset. */
  failEveryCount: number;
  seq: number;
  /** Last message_id used per chat; kept across `reset` so ids never repeat within a run. */
  lastMessageId: Map<number, number>;
  /** Messages sent or edited through the stand-in, keyed `${chat_id}:${message_id}`, oldest first. */
  messages: Map<string, TgMessage>;
  /** Messages removed by deleteMessage. */
  gone: Set<string>;
  webhook?: Webhook;
  /** setMyCommands lists keyed by `${scope JSON}|${language_code}`. */
  commands: Map<string, unknown>;
  lastUpdateId: number;
}

/** Messages remembered at most; the oldest are forgotten first (edits of forgotten ones still succeed). */
const MESSAGE_MEMORY = 200_000;

export function messageKey(chatId: number, messageId: number): string {
  return `${chatId}:${messageId}`;
}

function latencyRange(v: StandInOptions['latencyMs']): { min: number; max: number } {
  if (v === undefined) return { min: 0, max: 0 };
  if (typeof v === 'number') return { min: Math.max(0, v), max: Math.max(0, v) };
  const min = Math.max(0, v.min);
  return { min, max: Math.max(min, v.max) };
}

function limiterFor(s: Settings): RateLimiter {
  return new RateLimiter(s);
}

function emptyStats(): Stats {
  return {
    requests: 0,
    sends: 0,
    rejected429: 0,
    floods: 0,
    arrivedDuringFlood: 0,
    sentAfterFloodAnswered: 0,
    sentAfterFloodAnsweredMaxMs: 0,
    failedAfterDelivery: 0,
    maxInFlightPerInvocation: 0,
    connectionWaits: 0,
    byMethod: {},
  };
}

export function createState(opts: StandInOptions): State {
  const settings: Settings = {
    latency: { min: 0, max: 0 },
    jitterMs: 0,
    rateLimit: 30,
    paidRateLimit: 1000,
    perChatPerSecond: 1,
    perChatBurst: 3,
    floodPenaltyMs: 100,
    maxConnectionsPerInvocation: WORKER_CONNECTIONS_PER_INVOCATION,
    blocked: new Set(),
    deactivated: new Set(),
    missing: new Set(),
    deleted: new Set(),
  };
  const stats = emptyStats();
  const state: State = {
    settings,
    deliveries: [],
    calls: [],
    stats,
    arrivals: [],
    limiter: limiterFor(settings),
    connections: new ConnectionCap(settings.maxConnectionsPerInvocation, stats),
    failEveryCount: 0,
    seq: 0,
    lastMessageId: new Map(),
    messages: new Map(),
    gone: new Set(),
    commands: new Map(),
    lastUpdateId: 100_000_000,
  };
  configure(state, opts);
  return state;
}

function nonNegative(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0;
}

/**
 * Applies a partial option set; changing any limit starts fresh (empty) windows and (full) per-chat buckets.
 * `port`/`host` are ignored.
 */
export function configure(state: State, patch: Partial<StandInOptions>): void {
  const s = state.settings;
  if ('token' in patch) s.token = patch.token;
  if ('latencyMs' in patch) s.latency = latencyRange(patch.latencyMs);
  if (patch.blockedChats) s.blocked = new Set(patch.blockedChats.map(Number));
  if (patch.deactivatedChats) s.deactivated = new Set(patch.deactivatedChats.map(Number));
  if (patch.missingChats) s.missing = new Set(patch.missingChats.map(Number));
  if (patch.deletedMessages) s.deleted = new Set(patch.deletedMessages.map((m) => messageKey(Number(m.chat_id), Number(m.message_id))));
  if ('failNext' in patch) s.failNext = patch.failNext ? { ...patch.failNext } : undefined;
  if ('failEvery' in patch) {
    const f = patch.failEvery;
    s.failEvery = f ? { ...f, every: Math.max(1, Math.floor(Number(f.every) || 1)) } : undefined;
    state.failEveryCount = 0;
  }
  if (nonNegative(patch.jitterMs)) s.jitterMs = patch.jitterMs;
  if (nonNegative(patch.floodPenaltyMs)) s.floodPenaltyMs = patch.floodPenaltyMs;
  if (nonNegative(patch.maxConnectionsPerInvocation)) {
    s.maxConnectionsPerInvocation = patch.maxConnectionsPerInvocation;
    state.connections.setMax(patch.maxConnectionsPerInvocation);
  }
  let limitsChanged = false;
  for (const key of ['rateLimit', 'paidRateLimit', 'perChatPerSecond', 'perChatBurst'] as const) {
    const v = patch[key];
    if (nonNegative(v)) {
      s[key] = v;
      limitsChanged = true;
    }
  }
  if (limitsChanged) state.limiter = limiterFor(s);
}

/**
 * Clears deliveries, calls, arrivals, stats, rate windows and buckets, the flood wait and `failNext`, and
 * restarts the `failEvery` count. Options (`failEvery` included), the webhook, commands, remembered messages,
 * message ids and `seq` survive, so ids stay unique and `since_seq` polling keeps working. Requests in flight
 * keep their connections.
 */
export function reset(state: State): void {
  state.deliveries.length = 0;
  state.calls.length = 0;
  state.arrivals.length = 0;
  // In place: callers hold on to `stats` and `stats.byMethod`.
  Object.assign(state.stats, emptyStats(), { byMethod: state.stats.byMethod });
  for (const k of Object.keys(state.stats.byMethod)) delete state.stats.byMethod[k];
  state.settings.failNext = undefined;
  state.failEveryCount = 0;
  state.flood = undefined;
  state.limiter = limiterFor(state.settings);
}

/** Remembers a message, forgetting the oldest beyond {@link MESSAGE_MEMORY}. */
export function remember(state: State, chatId: number, msg: TgMessage): void {
  const key = messageKey(chatId, msg.message_id);
  state.messages.delete(key);
  state.messages.set(key, msg);
  if (state.messages.size > MESSAGE_MEMORY) {
    const oldest = state.messages.keys().next().value;
    if (oldest !== undefined) state.messages.delete(oldest);
  }
}

/** Next message_id in a chat; ids start at 1 per chat like in a fresh private chat. */
export function nextMessageId(state: State, chatId: number): number {
  const id = (state.lastMessageId.get(chatId) ?? 0) + 1;
  state.lastMessageId.set(chatId, id);
  return id;
}
