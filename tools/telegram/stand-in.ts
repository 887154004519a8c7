/**
 * A stand-in for the Telegram Bot API (https://core.telegram.org/bots/api) for tests and local runs: the
 * methods the product calls, with the real envelopes, error strings and rate limits, plus a control API
 * under /__control/ to inspect deliveries, change behaviour and push updates to the webhook.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { closeOnSignals, listen } from '../standin-server.ts';
import { errorReply } from './api.ts';
import type { Decision, Timing } from './arrival.ts';
import { activeFlood, forceFlood } from './arrival.ts';
import type { Params } from './body.ts';
import { parseParams, readBody } from './body.ts';
import { INVOCATION_HEADER } from './connections.ts';
import { handleControl } from './control.ts';
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
  const { min, max } = settings.latency;
  const half = (max <= min ? min : min + Math.random() * (max - min)) / 2;
  const jitter = (Math.random() * 2 - 1) * settings.jitterMs;
  return { inbound: Math.max(0, half + jitter), outbound: half };
}

/** Sleeps until `at` (epoch ms); false when the server closes meanwhile. */
async function sleepUntil(at: number, signal: AbortSignal): Promise<boolean> {
  const ms = at - Date.now();
  if (ms <= 0) return !signal.aborted;
  try {
    await sleep(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}

function writeJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
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
async function handleBotApi(state: State, req: IncomingMessage, res: ServerResponse, url: URL, signal: AbortSignal): Promise<void> {
  const path = /^\/bot([^/]*)\/([^/]*)$/.exec(url.pathname);
  const body = await readBody(req);
  if (!path || (req.method !== 'GET' && req.method !== 'POST')) {
    const reply = errorReply(404, 'Not Found');
    return writeJson(res, reply.status, reply.body);
  }
  state.stats.requests += 1;
  const invocation = req.headers[INVOCATION_HEADER];
  let release: (() => void) | undefined;
  if (typeof invocation === 'string' && invocation !== '') {
    try {
      release = await state.connections.acquire(invocation, signal);
    } catch {
      return; // closing: the socket is about to be destroyed
    }
  }
  try {
    const sentAt = Date.now();
    const { inbound, outbound } = legs(state.settings);
    const at = sentAt + inbound;
    if (!(await sleepUntil(at, signal))) return;
    const { reply, flood } = decide(state, req, url, path, body, { sentAt, at });
    if (!(await sleepUntil(at + outbound, signal))) return;
    writeJson(res, reply.status, reply.body);
    if (flood) flood.answeredAt ??= Date.now();
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
  const server = await listen((req, res, signal) => {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const work = url.pathname.startsWith('/__control/')
      ? readBody(req)
          .then((body) => handleControl(state, req.method ?? 'GET', url.pathname, url.searchParams, body))
          .then((r) => writeJson(res, r.status, r.body))
      : handleBotApi(state, req, res, url, signal);
    work.catch((e: unknown) => {
      if (res.headersSent) res.destroy();
      else
        writeJson(res, 500, {
          ok: false,
          error_code: 500,
          description: `Internal Server Error: ${e instanceof Error ? e.message : String(e)}`,
        });
    });
  }, opts);
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

/** `40` or a range `25-55` (ms). */
function parseLatency(v: string): StandInOptions['latencyMs'] {
  const range = /^(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)$/.exec(v);
  return range ? { min: Number(range[1]), max: Number(range[2]) } : Number(v);
}

/**
 * `node tools/telegram/stand-in.ts [--port 8081] [--host h] [--token t] [--latency 40|25-55] [--jitter 15]
 * [--rate 30] [--paid-rate 1000] [--per-chat 1] [--per-chat-burst 3] [--flood-penalty 100] [--max-connections 6]`
 */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '8081' },
      host: { type: 'string' },
      latency: { type: 'string' },
      jitter: { type: 'string' },
      rate: { type: 'string' },
      'paid-rate': { type: 'string' },
      'per-chat': { type: 'string' },
      'per-chat-burst': { type: 'string' },
      'flood-penalty': { type: 'string' },
      'max-connections': { type: 'string' },
      token: { type: 'string' },
    },
  });
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  const opts: StandInOptions = {
    port: Number(values.port),
    jitterMs: num(values.jitter),
    rateLimit: num(values.rate),
    paidRateLimit: num(values['paid-rate']),
    perChatPerSecond: num(values['per-chat']),
    perChatBurst: num(values['per-chat-burst']),
    floodPenaltyMs: num(values['flood-penalty']),
    maxConnectionsPerInvocation: num(values['max-connections']),
  };
  if (values.host !== undefined) opts.host = values.host;
  if (values.token !== undefined) opts.token = values.token;
  if (values.latency !== undefined) opts.latencyMs = parseLatency(values.latency);
  const standIn = await startTelegramStandIn(opts);
  console.log(`telegram stand-in listening on ${standIn.url}`);
  closeOnSignals(standIn);
}

if (import.meta.main) await main();
