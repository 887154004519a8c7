/**
 * A stand-in for the Telegram Bot API (https://core.telegram.org/bots/api) for tests and local runs: the
 * methods the product calls, with the real envelopes, error strings and rate limits, plus a control API
 * under /__control/ to inspect deliveries, change behaviour and push updates to the webhook.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { closeOnSignals, listen } from '../standin-server.ts';
import type { ApiReply } from './api.ts';
import { errorReply } from './api.ts';
import { parseParams, readBody } from './body.ts';
import { handleControl } from './control.ts';
import { dispatch } from './methods.ts';
import type { Call, Delivery, StandInOptions, State, Stats } from './state.ts';
import { configure, createState, reset } from './state.ts';

export type { Call, Delivery, StandInOptions, Stats } from './state.ts';

/** A running stand-in. */
export interface TelegramStandIn {
  /** Base URL without trailing slash, e.g. `http://127.0.0.1:40123`: the value for TELEGRAM_API_ROOT. */
  readonly url: string;
  /** Successful sends in order (live array; `reset` empties it in place). */
  readonly deliveries: Delivery[];
  /** Non-send method calls in order (edits, callbacks, webhook setup...), whatever their outcome. */
  readonly calls: Call[];
  /** Live counters; `reset` zeroes them in place. */
  readonly stats: Stats;
  /** Changes limits, lists, latency, token or failNext at runtime; changing a limit refills the buckets. */
  configure(patch: Partial<StandInOptions>): void;
  /** Clears deliveries, calls, stats, buckets and failNext; keeps options, webhook and message ids. */
  reset(): void;
  /** Stops listening and drops every connection, keep-alive ones included. */
  close(): Promise<void>;
}

/** The token shape the real API uses; any such token is accepted unless `token` pins one. */
const TOKEN_SHAPE = /^\d+:[A-Za-z0-9_-]+$/;

function tokenAccepted(state: State, token: string): boolean {
  return state.settings.token === undefined ? TOKEN_SHAPE.test(token) : token === state.settings.token;
}

function latencyMs(state: State): number {
  const { min, max } = state.settings.latency;
  return max <= min ? min : min + Math.random() * (max - min);
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

async function handleBotApi(state: State, req: IncomingMessage, url: URL, signal: AbortSignal): Promise<ApiReply | undefined> {
  const match = /^\/bot([^/]*)\/([^/]*)$/.exec(url.pathname);
  const body = await readBody(req);
  if (!match || (req.method !== 'GET' && req.method !== 'POST')) return errorReply(404, 'Not Found');
  state.stats.requests += 1;
  const token = safeDecode(match[1] ?? '');
  let outcome: ReturnType<typeof dispatch>;
  if (!tokenAccepted(state, token)) outcome = { reply: errorReply(401, 'Unauthorized') };
  else {
    try {
      const params = parseParams(req.headers['content-type'], body, url.searchParams);
      outcome = dispatch(state, token, safeDecode(match[2] ?? ''), params);
    } catch {
      outcome = { reply: errorReply(400, "Bad Request: can't parse request body") };
    }
  }
  // Latency comes after the decision and before the answer, so rate limits see arrival order.
  const delay = latencyMs(state);
  if (delay > 0) {
    try {
      await sleep(delay, undefined, { signal });
    } catch {
      return undefined; // closing: the socket is about to be destroyed
    }
  }
  return 'reply' in outcome ? outcome.reply : outcome.commit();
}

/**
 * Starts the stand-in. Defaults: port 0 (free port), host 127.0.0.1, any well-formed token, no latency,
 * 30 sends/s bot-wide, 1000/s paid, 1/s per chat with a burst of 3.
 */
export async function startTelegramStandIn(opts: StandInOptions = {}): Promise<TelegramStandIn> {
  const state = createState(opts);
  const server = await listen((req, res, signal) => {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const work = url.pathname.startsWith('/__control/')
      ? readBody(req)
          .then((body) => handleControl(state, req.method ?? 'GET', url.pathname, url.searchParams, body))
          .then((r) => writeJson(res, r.status, r.body))
      : handleBotApi(state, req, url, signal).then((r) => {
          if (r) writeJson(res, r.status, r.body);
        });
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
    stats: state.stats,
    configure: (patch) => configure(state, patch),
    reset: () => reset(state),
    close: server.close,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '8081' },
      host: { type: 'string' },
      latency: { type: 'string' },
      rate: { type: 'string' },
      'paid-rate': { type: 'string' },
      'per-chat': { type: 'string' },
      token: { type: 'string' },
    },
  });
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  const opts: StandInOptions = { port: Number(values.port) };
  if (values.host !== undefined) opts.host = values.host;
  if (values.token !== undefined) opts.token = values.token;
  const latency = num(values.latency);
  if (latency !== undefined) opts.latencyMs = latency;
  const rate = num(values.rate);
  if (rate !== undefined) opts.rateLimit = rate;
  const paid = num(values['paid-rate']);
  if (paid !== undefined) opts.paidRateLimit = paid;
  const perChat = num(values['per-chat']);
  if (perChat !== undefined) opts.perChatPerSecond = perChat;
  const standIn = await startTelegramStandIn(opts);
  console.log(`telegram stand-in listening on ${standIn.url}`);
  closeOnSignals(standIn);
}

if (import.meta.main) await main();
