import type { SendOutcome } from '../../durable-objects/campaign/campaign.engine';
import type { Config } from '../core/config';
import { errorMessage } from '../core/logger';
import type { Variant } from './content';

export interface Delivery {
  outcome: SendOutcome;
  reason?: string;
  /** For `retry`: when it may be tried again (epoch ms). */
  retryAt?: number;
  /** Telegram asked the whole bot to wait until then (429). */
  blockBotUntil?: number;
  messageId?: number;
}

/** Where the bot's Bot API calls go. */
export interface BotEndpoint {
  apiRoot: string;
  token: string;
}

export function botEndpoint(config: Pick<Config, 'TELEGRAM_API_ROOT' | 'BOT_TOKEN'>): BotEndpoint {
  return { apiRoot: config.TELEGRAM_API_ROOT, token: config.BOT_TOKEN };
}

/** Telegram 5xx or a connection that never opened: the message did not go out; try again after this. */
const RETRY_AFTER_ERROR_MS = 5_000;

interface Reply {
  ok: boolean;
  result?: { message_id?: number };
  error_code?: number;
  description?: string;
  parameters?: { retry_after?: number };
}

/** The Bot API method and parameters that send `v` to `chatId`; `paid` adds `allow_paid_broadcast`. */
export function sendCall(chatId: number, v: Variant, paid: boolean): [string, Record<string, unknown>] {
  const extra = paid ? { allow_paid_broadcast: true } : {};
  switch (v.kind) {
    case 'text':
      return ['sendMessage', { chat_id: chatId, text: v.text, parse_mode: v.parse_mode, entities: v.entities, ...extra }];
    case 'copy':
      return ['copyMessage', { chat_id: chatId, from_chat_id: v.from_chat_id, message_id: v.message_id, ...extra }];
    default: {
      const method = { photo: 'sendPhoto', video: 'sendVideo', document: 'sendDocument', animation: 'sendAnimation' }[v.kind];
      const media = {
        chat_id: chatId,
        [v.kind]: v.file_id,
        caption: v.caption,
        parse_mode: v.parse_mode,
        caption_entities: v.caption_entities,
      };
      return [method, { ...media, ...extra }];
    }
  }
}

/**
 * Sends one message and says what became of it. A plain fetch rather than grammY's client: this is
 * the broadcast's hot path, and the per-call machinery (an abort controller and timer per request,
 * upload detection) cost a quarter of the sender's CPU.
 * - 403 (blocked, deactivated, kicked) → `blocked`; 400 (chat not found, message to copy not found,
 *   too long, bad entities) → `failed` with Telegram's words;
 * - 429 → `retry` after `retry_after`, and the whole bot waits that long;
 * - 5xx, or a connection refused before anything was sent → `retry` after 5 s;
 * - any other network failure, or `signal` aborting it: the request may have reached Telegram → `unknown`.
 */
export async function deliver(
  bot: BotEndpoint,
  chatId: number,
  v: Variant,
  paid: boolean,
  signal?: AbortSignal,
  now: () => number = Date.now,
): Promise<Delivery> {
  const [method, params] = sendCall(chatId, v, paid);
  let res: Response;
  try {
    res = await fetch(`${bot.apiRoot}/bot${bot.token}/${method}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(params),
      signal,
    });
  } catch (err) {
    const reason = errorMessage(err);
    if (/refused|ENOTFOUND|dns/i.test(reason)) return { outcome: 'retry', retryAt: now() + RETRY_AFTER_ERROR_MS, reason };
    return { outcome: 'unknown', reason };
  }
  const reply = (await res.json().catch(() => undefined)) as Reply | undefined;
  if (reply?.ok) return { outcome: 'sent', messageId: reply.result?.message_id };
  const code = reply?.error_code ?? res.status;
  const reason = reply?.description ?? `HTTP ${res.status}`;
  if (code === 403) return { outcome: 'blocked', reason };
  if (code === 429) {
    const until = now() + (reply?.parameters?.retry_after ?? 1) * 1000;
    return { outcome: 'retry', retryAt: until, blockBotUntil: until, reason };
  }
  if (code >= 500) return { outcome: 'retry', retryAt: now() + RETRY_AFTER_ERROR_MS, reason };
  return { outcome: 'failed', reason };
}
