import { RateLimiter } from './buckets.ts';

/** Options of the stand-in; every field can also be changed at runtime through `configure`. */
export interface StandInOptions {
  /** Port to listen on; 0 picks a free one. Default 0. Ignored by `configure`. */
  port?: number;
  /** Interface to bind. Default '127.0.0.1'. Ignored by `configure`. */
  host?: string;
  /** The only bot token accepted. Default: any token shaped /^\d+:[A-Za-z0-9_-]+$/. */
  token?: string;
  /** Delay before every Bot API answer, in ms; a range picks uniformly per request. Default 0. */
  latencyMs?: number | { min: number; max: number };
  /** Bot-wide sends per second without `allow_paid_broadcast` (also the burst). Default 30; 0 = unlimited. */
  rateLimit?: number;
  /** Bot-wide sends per second with `allow_paid_broadcast: true` (also the burst). Default 1000; 0 = unlimited. */
  paidRateLimit?: number;
  /** Sends per second to one chat. Default 1; 0 = unlimited. */
  perChatPerSecond?: number;
  /** Sends one chat can take back to back before `perChatPerSecond` applies. Default 3. */
  perChatBurst?: number;
  /** Chats answering 403 `Forbidden: bot was blocked by the user`. */
  blockedChats?: number[];
  /** Chats answering 403 `Forbidden: user is deactivated`. */
  deactivatedChats?: number[];
  /** Chats answering 400 `Bad Request: chat not found`. */
  missingChats?: number[];
  /** Messages that copyMessage/forwardMessage cannot find (400). */
  deletedMessages?: Array<{ chat_id: number; message_id: number }>;
  /** The next `count` send calls that pass validation and rate limits answer this status instead. */
  /**
   * The next `count` sends answer `status`. 429 starts a flood wait as Telegram's: every send for
   * `retryAfter` seconds (default 1) is refused with the time left.
   */
  failNext?: { status: 500 | 502 | 429; count: number; retryAfter?: number };
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
  /** When it was recorded, epoch ms. */
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
  /** Send calls that succeeded (a media group counts once). */
  sends: number;
  /** Answers with HTTP 429. */
  rejected429: number;
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

export interface Webhook {
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
  rateLimit: number;
  paidRateLimit: number;
  perChatPerSecond: number;
  perChatBurst: number;
  blocked: Set<number>;
  deactivated: Set<number>;
  missing: Set<number>;
  /** `${chat_id}:${message_id}` keys from `deletedMessages`. */
  deleted: Set<string>;
  failNext?: { status: 500 | 502 | 429; count: number; retryAfter?: number };
  /** Epoch ms until which every send is refused 429 (a flood wait started by `failNext`). */
  floodUntil?: number;
}

export interface State {
  settings: Settings;
  deliveries: Delivery[];
  calls: Call[];
  stats: Stats;
  limiter: RateLimiter;
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
export const MESSAGE_MEMORY = 200_000;

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
  return new RateLimiter(s, Date.now());
}

export function createState(opts: StandInOptions): State {
  const settings: Settings = {
    latency: { min: 0, max: 0 },
    rateLimit: 30,
    paidRateLimit: 1000,
    perChatPerSecond: 1,
    perChatBurst: 3,
    blocked: new Set(),
    deactivated: new Set(),
    missing: new Set(),
    deleted: new Set(),
  };
  const state: State = {
    settings,
    deliveries: [],
    calls: [],
    stats: { requests: 0, sends: 0, rejected429: 0, byMethod: {} },
    limiter: limiterFor(settings),
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

/** Applies a partial option set; changing any limit starts fresh (full) buckets. `port`/`host` are ignored. */
export function configure(state: State, patch: Partial<StandInOptions>): void {
  const s = state.settings;
  if ('token' in patch) s.token = patch.token;
  if ('latencyMs' in patch) s.latency = latencyRange(patch.latencyMs);
  if (patch.blockedChats) s.blocked = new Set(patch.blockedChats.map(Number));
  if (patch.deactivatedChats) s.deactivated = new Set(patch.deactivatedChats.map(Number));
  if (patch.missingChats) s.missing = new Set(patch.missingChats.map(Number));
  if (patch.deletedMessages) s.deleted = new Set(patch.deletedMessages.map((m) => messageKey(Number(m.chat_id), Number(m.message_id))));
  if ('failNext' in patch) s.failNext = patch.failNext ? { ...patch.failNext } : undefined;
  let limitsChanged = false;
  for (const key of ['rateLimit', 'paidRateLimit', 'perChatPerSecond', 'perChatBurst'] as const) {
    const v = patch[key];
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) {
      s[key] = v;
      limitsChanged = true;
    }
  }
  if (limitsChanged) state.limiter = limiterFor(s);
}

/**
 * Clears deliveries, calls, stats, rate buckets and `failNext`. Options, the webhook, commands, remembered
 * messages, message ids and `seq` survive, so ids stay unique and `since_seq` polling keeps working.
 */
export function reset(state: State): void {
  state.deliveries.length = 0;
  state.calls.length = 0;
  state.stats.requests = 0;
  state.stats.sends = 0;
  state.stats.rejected429 = 0;
  for (const k of Object.keys(state.stats.byMethod)) delete state.stats.byMethod[k];
  state.settings.failNext = undefined;
  state.settings.floodUntil = undefined;
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
