import { activeFlood, forceFlood } from './arrival.ts';
import { callNow } from './methods.ts';
import type { StandInOptions, State } from './state.ts';
import { configure, reset } from './state.ts';

/** A control API answer: HTTP status and a JSON body. */
export interface ControlReply {
  status: number;
  body: unknown;
}

/** Webhook calls give up after this long, in ms (the real API waits about a minute too). */
const WEBHOOK_TIMEOUT_MS = 60_000;

function sinceSeq(query: URLSearchParams): number {
  const v = Number(query.get('since_seq') ?? '0');
  return Number.isFinite(v) ? v : 0;
}

function parseObject(body: Buffer): Record<string, unknown> | undefined {
  if (body.length === 0) return {};
  try {
    const v: unknown = JSON.parse(body.toString('utf8'));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The current options in `StandInOptions` form (for GET /__control/config). */
function currentOptions(state: State): StandInOptions {
  const s = state.settings;
  const opts: StandInOptions = {
    latencyMs: s.latency.min === s.latency.max ? s.latency.min : { ...s.latency },
    jitterMs: s.jitterMs,
    rateLimit: s.rateLimit,
    paidRateLimit: s.paidRateLimit,
    perChatPerSecond: s.perChatPerSecond,
    perChatBurst: s.perChatBurst,
    floodPenaltyMs: s.floodPenaltyMs,
    maxConnectionsPerInvocation: s.maxConnectionsPerInvocation,
    blockedChats: [...s.blocked],
    deactivatedChats: [...s.deactivated],
    missingChats: [...s.missing],
    deletedMessages: [...s.deleted].map((k) => {
      const [chat, message] = k.split(':');
      return { chat_id: Number(chat), message_id: Number(message) };
    }),
  };
  if (s.token !== undefined) opts.token = s.token;
  if (s.failNext) opts.failNext = { ...s.failNext };
  if (s.failEvery) opts.failEvery = { ...s.failEvery };
  return opts;
}

/**
 * Answers `/__control/*`:
 * - `GET deliveries?chat_id=&since_seq=` → `{ deliveries }` (seq > since_seq)
 * - `GET calls?method=&since_seq=` → `{ calls }` (non-send methods)
 * - `GET stats` → the stats object
 * - `GET arrivals` → `{ arrivals }` (every send that arrived, see `TelegramStandIn.arrivals`)
 * - `GET flood` → `{ flood }`, the flood wait in force or null; `POST flood` `{ seconds }` → forces one from
 *   now → `{ ok: true, flood }`
 * - `GET config` → current options; `POST config` (partial options) → `{ ok: true, options }`
 * - `POST reset` → `{ ok: true }`
 * - `POST updates` (an Update) → `{ status, body, update_id }` of the webhook's answer; 409 without a webhook
 */
export async function handleControl(
  state: State,
  method: string,
  path: string,
  query: URLSearchParams,
  body: Buffer,
): Promise<ControlReply> {
  const route = `${method} ${path}`;
  switch (route) {
    case 'GET /__control/deliveries': {
      const chat = query.get('chat_id');
      const since = sinceSeq(query);
      const deliveries = state.deliveries.filter((d) => d.seq > since && (chat === null || chat === '' || d.chat_id === Number(chat)));
      return { status: 200, body: { deliveries } };
    }
    case 'GET /__control/calls': {
      const name = query.get('method');
      const since = sinceSeq(query);
      const calls = state.calls.filter((c) => c.seq > since && (name === null || name === '' || c.method === name));
      return { status: 200, body: { calls } };
    }
    case 'GET /__control/stats':
      return { status: 200, body: state.stats };
    case 'GET /__control/arrivals':
      return { status: 200, body: { arrivals: state.arrivals } };
    case 'GET /__control/flood':
      return { status: 200, body: { flood: activeFlood(state, Date.now()) ?? null } };
    case 'POST /__control/flood': {
      const seconds = parseObject(body)?.seconds;
      if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds <= 0) {
        return { status: 400, body: { error: 'body must be { "seconds": N } with N > 0' } };
      }
      return { status: 200, body: { ok: true, flood: forceFlood(state, seconds) } };
    }
    case 'GET /__control/config':
      return { status: 200, body: currentOptions(state) };
    case 'POST /__control/config': {
      const patch = parseObject(body);
      if (!patch) return { status: 400, body: { error: 'body must be a JSON object of StandInOptions' } };
      configure(state, patch as Partial<StandInOptions>);
      return { status: 200, body: { ok: true, options: currentOptions(state) } };
    }
    case 'POST /__control/reset':
      reset(state);
      return { status: 200, body: { ok: true } };
    case 'POST /__control/updates': {
      const update = parseObject(body);
      if (!update) return { status: 400, body: { error: 'body must be a Telegram Update object' } };
      return deliverUpdate(state, update);
    }
    default:
      return { status: 404, body: { error: `no control route ${route}` } };
  }
}

/**
 * POSTs an update to the webhook like Telegram does: JSON body, `X-Telegram-Bot-Api-Secret-Token` when a
 * secret was set. A missing `update_id` is filled in with the next one. A `{ method, ... }` JSON answer is run
 * as a Bot API call, as the real API does with webhook replies. Failures show up in getWebhookInfo.
 */
async function deliverUpdate(state: State, update: Record<string, unknown>): Promise<ControlReply> {
  const hook = state.webhook;
  if (!hook) return { status: 409, body: { error: 'no webhook is set; call setWebhook first' } };
  if (typeof update.update_id === 'number') state.lastUpdateId = Math.max(state.lastUpdateId, update.update_id);
  else update.update_id = ++state.lastUpdateId;
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (hook.secretToken) headers['x-telegram-bot-api-secret-token'] = hook.secretToken;
  let res: Response;
  let text: string;
  try {
    res = await fetch(hook.url, { method: 'POST', headers, body: JSON.stringify(update), signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS) });
    text = await res.text();
  } catch (e) {
    const message = e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e);
    hook.lastErrorDate = Math.floor(Date.now() / 1000);
    hook.lastErrorMessage = `Connection failed: ${message}`;
    return { status: 502, body: { status: 0, body: '', error: message, update_id: update.update_id } };
  }
  if (res.ok) runWebhookReply(state, hook.token, res.headers.get('content-type'), text);
  else {
    hook.lastErrorDate = Math.floor(Date.now() / 1000);
    hook.lastErrorMessage = `Wrong response from the webhook: ${res.status} ${res.statusText}`;
  }
  return { status: 200, body: { status: res.status, body: text, update_id: update.update_id } };
}

function runWebhookReply(state: State, token: string, contentType: string | null, text: string): void {
  if (!contentType?.toLowerCase().includes('application/json')) return;
  const reply = parseObject(Buffer.from(text, 'utf8'));
  const method = reply?.method;
  if (!reply || typeof method !== 'string') return;
  const params = { ...reply };
  delete params.method;
  // The real API gives no feedback on webhook replies either; the call still shows up in deliveries/calls/stats.
  state.stats.requests += 1;
  callNow(state, token, method, params);
}
