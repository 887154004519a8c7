import type { ControlReply, ControlRoutes } from '../standin/control.ts';
import { sinceSeq } from '../standin/control.ts';
import { activeFlood, forceFlood } from './arrival.ts';
import { callNow } from './methods.ts';
import type { StandInOptions, State } from './state.ts';
import { configure, reset } from './state.ts';

/** Webhook calls give up after this long, in ms (the real API waits about a minute too). */
const WEBHOOK_TIMEOUT_MS = 60_000;

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
 * The control API under `/__control/`:
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
export function controlRoutes(state: State): ControlRoutes {
  return {
    'GET deliveries': ({ query }) => {
      const chat = query.get('chat_id');
      const since = sinceSeq(query);
      const deliveries = state.deliveries.filter((d) => d.seq > since && (chat === null || chat === '' || d.chat_id === Number(chat)));
      return { status: 200, body: { deliveries } };
    },
    'GET calls': ({ query }) => {
      const name = query.get('method');
      const since = sinceSeq(query);
      const calls = state.calls.filter((c) => c.seq > since && (name === null || name === '' || c.method === name));
      return { status: 200, body: { calls } };
    },
    'GET stats': () => ({ status: 200, body: state.stats }),
    'GET arrivals': () => ({ status: 200, body: { arrivals: state.arrivals } }),
    'GET flood': () => ({ status: 200, body: { flood: activeFlood(state, Date.now()) ?? null } }),
    'POST flood': (req) => {
      const error = 'body must be { "seconds": N } with N > 0';
      const { seconds } = req.object(error);
      if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds <= 0) return { status: 400, body: { error } };
      return { status: 200, body: { ok: true, flood: forceFlood(state, seconds) } };
    },
    'GET config': () => ({ status: 200, body: currentOptions(state) }),
    'POST config': (req) => {
      configure(state, req.object('body must be a JSON object of StandInOptions') as Partial<StandInOptions>);
      return { status: 200, body: { ok: true, options: currentOptions(state) } };
    },
    'POST reset': () => {
      reset(state);
      return { status: 200, body: { ok: true } };
    },
    'POST updates': (req) => deliverUpdate(state, req.object('body must be a Telegram Update object')),
  };
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
  let reply: unknown;
  try {
    reply = JSON.parse(text);
  } catch {
    return;
  }
  if (reply === null || typeof reply !== 'object' || Array.isArray(reply)) return;
  const { method, ...params } = reply as Record<string, unknown>;
  if (typeof method !== 'string') return;
  // The real API gives no feedback on webhook replies either; the call still shows up in deliveries/calls/stats.
  state.stats.requests += 1;
  callNow(state, token, method, params);
}
