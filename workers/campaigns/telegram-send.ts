import { type Api, GrammyError, HttpError } from 'grammy';
import type { SendOutcome } from '../../durable-objects/campaign/campaign.engine';
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

/** Telegram 5xx or a connection that never opened: the message did not go out; try again after this. */
const RETRY_AFTER_ERROR_MS = 5_000;

/** Sends one variant to one chat. `paid` adds `allow_paid_broadcast`. */
export async function sendVariant(api: Api, chatId: number, v: Variant, paid: boolean): Promise<{ message_id: number }> {
  const extra = paid ? { allow_paid_broadcast: true } : {};
  switch (v.kind) {
    case 'text':
      return api.sendMessage(chatId, v.text, { parse_mode: v.parse_mode, entities: v.entities as never, ...extra });
    case 'copy':
      return api.copyMessage(chatId, v.from_chat_id, v.message_id, extra);
    case 'photo':
      return api.sendPhoto(chatId, v.file_id, {
        caption: v.caption,
        parse_mode: v.parse_mode,
        caption_entities: v.caption_entities as never,
        ...extra,
      });
    case 'video':
      return api.sendVideo(chatId, v.file_id, {
        caption: v.caption,
        parse_mode: v.parse_mode,
        caption_entities: v.caption_entities as never,
        ...extra,
      });
    case 'document':
      return api.sendDocument(chatId, v.file_id, {
        caption: v.caption,
        parse_mode: v.parse_mode,
        caption_entities: v.caption_entities as never,
        ...extra,
      });
    case 'animation':
      return api.sendAnimation(chatId, v.file_id, {
        caption: v.caption,
        parse_mode: v.parse_mode,
        caption_entities: v.caption_entities as never,
        ...extra,
      });
  }
}

/**
 * Sends and says what became of it:
 * - 403 (blocked, deactivated, kicked) → `blocked`; 400 (chat not found, message to copy not found,
 *   too long, bad entities) → `failed` with Telegram's words;
 * - 429 → `retry` after `retry_after`, and the whole bot waits that long;
 * - 5xx, or a connection that was refused before anything was sent → `retry` after 5 s;
 * - any other network failure: the request may have reached Telegram → `unknown`, never resent.
 */
export async function deliver(api: Api, chatId: number, v: Variant, paid: boolean, now: () => number = Date.now): Promise<Delivery> {
  try {
    const message = await sendVariant(api, chatId, v, paid);
    return { outcome: 'sent', messageId: message.message_id };
  } catch (err) {
    if (err instanceof GrammyError) {
      if (err.error_code === 403) return { outcome: 'blocked', reason: err.description };
      if (err.error_code === 429) {
        const until = now() + (err.parameters.retry_after ?? 1) * 1000;
        return { outcome: 'retry', retryAt: until, blockBotUntil: until, reason: err.description };
      }
      if (err.error_code >= 500) return { outcome: 'retry', retryAt: now() + RETRY_AFTER_ERROR_MS, reason: err.description };
      return { outcome: 'failed', reason: err.description };
    }
    const reason = err instanceof HttpError ? String(err.error) : String(err);
    if (/refused|ENOTFOUND|dns/i.test(reason)) return { outcome: 'retry', retryAt: now() + RETRY_AFTER_ERROR_MS, reason };
    return { outcome: 'unknown', reason };
  }
}
