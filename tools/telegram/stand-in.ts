/**
 * A stand-in for the Telegram Bot API (https://core.telegram.org/bots/api) for tests and local runs: the
 * methods the product calls, with the real envelopes, error strings and rate limits, plus a control API
 * under /__control/ to inspect deliveries, change behaviour and push updates to the webhook.
 */
import type { IncomingMessage } from 'node:http';
import { numberArg, runCli } from '../standin/cli.ts';
import { drawLatencyMs, pause } from '../standin/latency.ts';
import { type HttpReply, preciseNow, startServer } from '../standin/server.ts';
import { errorReply } from './api.ts';
import type { Decision, Timing } from './arrival.ts';
import { activeFlood, forceFlood } from './arrival.ts';
import type { Params } from './body.ts';
import { MAX_BODY_BYTES, parseParams } from './body.ts';
import { INVOCATION_HEADER } from './connections.ts';
import { controlRoutes } from './control.ts';
import { dispatch } from './methods.ts';
import type { Arrival, Call, Delivery, FloodWait, Settings, StandInOptions, State, Stats } from './state.ts';
import { configure, createState, reset } from './state.ts';

export { INVOCATION_HEADER, WORKER_CONNECTIONS_PER_INVOCATION } from './connections.ts';
export type { Arrival, Call, Delivery, FailEvery, FailNext, FloodWait, StandInOptions, Stats } from './state.ts';

/** A running stand-in. */
export interface TelegramStandIn {
  /** Base URL without trailing slash, e.g. `http://127.0.0.1:40123`: the value for TELEGRAM_API_ROOT. */
  readonly url: string;
  /** Delivered sends in order, `failedAfterDelivery` ones included (live array; `reset` empties it in place). */
  readonly deliveries: Delivery[];
  /** Non-send method calls in order (edits, callbacks, webhook setup...), whatever their outcome. */
  readonly calls: Call[];
  /**
   * Every send method call that arrived, in decision order, with its virtual arrival time and answer (429s
   * included): the rate Telegram saw. Live array; `reset` empties it in place.
   */
  readonly arrivals: Arrival[];
  /** Live counters; `reset` zeroes them in place. */
  readonly stats: Stats;
  /** Changes limits, lists, latency, token, failNext or failEvery at runtime; changing a limit empties the windows. */
  configure(patch: Partial<StandInOptions>): void;
  /** Clears deliveries, calls, arrivals, stats, windows, buckets, the flood wait and failNext; keeps options, webhook and message ids. */
  reset(): void;
  /**
   * Starts a flood wait of `seconds` now (or stretches the running one): every send arriving during it is
   * answered 429 and lengthens it by `floodPenaltyMs`. Returns the wait.
   */
  forceFlood(seconds: number): FloodWait;
  /** The flood wait in force now, if any (a copy). */
  floodWait(): FloodWait | undefined;
  /** Stops listening and drops every connection, keep-alive ones included. */
  close(): Promise<void>;
}

/** The token shape the real API uses; any such token is accepted unless `token` pins one. */
const TOKEN_SHAPE = /^\d+:[A-Za-z0-9_-]+$/;

function tokenAccepted(state: State, token: string): boolean {
  return state.settings.token === undefined ? TOKEN_SHAPE.test(token) : token === state.settings.token;
}

/**
 * The two halves of one request's round trip, in ms: jitter moves only the inbound one, the one that decides
 * in which window the send is counted.
 */
function legs(settings: Settings): { inbound: number; outbound: number } {
  const half = drawLatencyMs(settings.latency) / 2;
  const jitter = (Math.random() * 2 - 1) * settings.jitterMs;
  return { inbound: Math.max(0, half + jitter), outbound: half };
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function decide(state: State, req: IncomingMessage, url: URL, path: RegExpExecArray, body: Buffer, t: Timing): Decision {
  const token = safeDecode(path[1] ?? '');
  if (!tokenAccepted(state, token)) return { reply: errorReply(401, 'Unauthorized') };
  let params: Params | undefined;
  try {
    params = parseParams(req.headers['content-type'], body, url.searchParams);
  } catch {
    params = undefined;
  }
  return dispatch(state, token, safeDecode(path[2] ?? ''), params, t);
}

/**
 * One Bot API request: wait for a connection of its invocation (if capped), travel the inbound leg, be decided
 * at the arrival time, travel the outbound leg, then be answered.
 */
async function serveBotApi(
  state: State,
  req: IncomingMessage,
  url: URL,
  body: Buffer,
  signal: AbortSignal,
  receivedAt: number,
): Promise<HttpReply | undefined> {
  const path = /^\/bot([^/]*)\/([^/]*)$/.exec(url.pathname);
  if (!path || (req.method !== 'GET' && req.method !== 'POST')) return errorReply(404, 'Not Found');
  state.stats.requests += 1;
  const invocation = req.headers[INVOCATION_HEADER];
  let release: (() => void) | undefined;
  // It left the Worker when its bytes came in, or, held by the connection cap, when a connection freed.
  let sentAt = receivedAt;
  if (typeof invocation === 'string' && invocation !== '') {
    try {
      const asked = Date.now();
      release = await state.connections.acquire(invocation, signal);
      if (Date.now() > asked) sentAt = preciseNow();
    } catch {
      return undefined; // closing: the socket is about to be destroyed
    }
  }
  try {
    const { inbound, outbound } = legs(state.settings);
    const at = sentAt + inbound;
    if (!(await pause(at - Date.now(), signal))) return undefined;
    const { reply, flood } = decide(state, req, url, path, body, { sentAt, at });
    if (!(await pause(at + outbound - Date.now(), signal))) return undefined;
    if (flood) flood.answeredAt ??= preciseNow();
    return reply;
  } finally {
    release?.();
  }
}

/**
 * Starts the stand-in. Defaults: port 0 (free port), host 127.0.0.1, any well-formed token, no latency or
 * jitter, 30 sends in any second bot-wide and 1000 paid or not, 1/s per chat with a burst of 3, flood waits
 * lengthened 100 ms per send arriving during them, 6 connections per `x-flarecast-invocation`.
 */
export async function startTelegramStandIn(opts: StandInOptions = {}): Promise<TelegramStandIn> {
  const state = createState(opts);
  const server = await startServer(opts, {
    maxBodyBytes: MAX_BODY_BYTES,
    tooLarge: errorReply(413, 'Request Entity Too Large'),
    control: controlRoutes(state),
    serve: (req, url, body, signal, receivedAt) => serveBotApi(state, req, url, body, signal, receivedAt),
    crashed: (_req, e) => errorReply(500, `Internal Server Error: ${e instanceof Error ? e.message : String(e)}`),
  });
  return {
    url: server.origin,
    deliveries: state.deliveries,
    calls: state.calls,
    arrivals: state.arrivals,
    stats: state.stats,
    configure: (patch) => configure(state, patch),
    reset: () => reset(state),
    forceFlood: (seconds) => ({ ...forceFlood(state, seconds) }),
    floodWait: () => {
      const f = activeFlood(state, Date.now());
      return f && { ...f };
    },
    close: server.close,
  };
}

/**
 * `node tools/telegram/stand-in.ts [--port 8081] [--host h] [--token t] [--latency 40|25-55] [--jitter 15]
 * [--rate 30] [--paid-rate 1000] [--per-chat 1] [--per-chat-burst 3] [--flood-penalty 100] [--max-connections 6]`
 */
if (import.meta.main) {
  await runCli({
    name: 'telegram',
    port: 8081,
    options: { jitter: {}, rate: {}, 'paid-rate': {}, 'per-chat': {}, 'per-chat-burst': {}, 'flood-penalty': {}, 'max-connections': {} },
    start: (common, own) =>
      startTelegramStandIn({
        ...common,
        jitterMs: numberArg(own.jitter),
        rateLimit: numberArg(own.rate),
        paidRateLimit: numberArg(own['paid-rate']),
        perChatPerSecond: numberArg(own['per-chat']),
        perChatBurst: numberArg(own['per-chat-burst']),
        floodPenaltyMs: numberArg(own['flood-penalty']),
        maxConnectionsPerInvocation: numberArg(own['max-connections']),
      }),
  });
}
