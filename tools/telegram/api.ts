import { randomBytes } from 'node:crypto';
import type { Params } from './body.ts';
import { int, str } from './body.ts';
import { parseHtml } from './html.ts';
import type { Settings } from './state.ts';

/** The JSON envelope of every Bot API answer. */
type ApiBody =
  | { ok: true; result: unknown; description?: string }
  | { ok: false; error_code: number; description: string; parameters?: { retry_after?: number; migrate_to_chat_id?: number } };

/** An answer and the HTTP status it goes out with (always equal to `error_code` on failures). */
export interface ApiReply {
  status: number;
  body: ApiBody;
}

export function okReply(result: unknown, description?: string): ApiReply {
  return { status: 200, body: description === undefined ? { ok: true, result } : { ok: true, result, description } };
}

export function errorReply(status: number, description: string, retryAfter?: number): ApiReply {
  const body: ApiBody = { ok: false, error_code: status, description };
  if (retryAfter !== undefined) body.parameters = { retry_after: retryAfter };
  return { status, body };
}

/** Thrown by validation to end a call with a Bot API error; the dispatcher turns it into the reply. */
export class ApiFailure extends Error {
  readonly reply: ApiReply;
  constructor(status: number, description: string) {
    super(description);
    this.reply = errorReply(status, description);
  }
}

export function badRequest(detail: string): ApiFailure {
  return new ApiFailure(400, `Bad Request: ${detail}`);
}

/** Upper bounds of the real API, in UTF-16 code units after entity parsing. */
const MAX_TEXT = 4096;
const MAX_CAPTION = 1024;

/** The bot's own user object; its id is the numeric part of the token. */
export function botUser(token: string): Record<string, unknown> {
  return { id: Number(token.split(':')[0]), is_bot: true, first_name: 'Flarecast', username: 'flarecast_bot' };
}

/**
 * Chat kind from the id alone, following Telegram's id ranges: positive ids are users, `-100…` ids are
 * supergroups/channels (reported as supergroup), other negatives are basic groups.
 */
export function chatObject(chatId: number): Record<string, unknown> {
  if (chatId > 0) return { id: chatId, first_name: 'User', username: `user${chatId}`, type: 'private' };
  if (chatId <= -1_000_000_000_000) return { id: chatId, title: `Supergroup ${chatId}`, type: 'supergroup' };
  return { id: chatId, title: `Group ${chatId}`, type: 'group' };
}

/**
 * Reads a chat id parameter. An absent one is `<key> is empty`; a `@username` or other non-numeric value is
 * `chat not found`, since the stand-in knows no usernames.
 */
export function chatIdParam(params: Params, key = 'chat_id'): number {
  const raw = str(params, key);
  if (raw === undefined || raw.trim() === '') throw badRequest(`${key} is empty`);
  const id = int(params, key);
  if (id === undefined || id === 0) throw badRequest('chat not found');
  return id;
}

/** `missingChats` → 400; used wherever a chat is looked up. */
export function assertChatExists(settings: Settings, chatId: number): void {
  if (settings.missing.has(chatId)) throw badRequest('chat not found');
}

/** `missingChats`, then `blockedChats`/`deactivatedChats`; used for anything that posts into the chat. */
export function assertCanPost(settings: Settings, chatId: number): void {
  assertChatExists(settings, chatId);
  if (settings.deactivated.has(chatId)) throw new ApiFailure(403, 'Forbidden: user is deactivated');
  if (settings.blocked.has(chatId)) {
    // Groups cannot block a bot; the real API reports the bot as kicked instead.
    if (chatId > 0) throw new ApiFailure(403, 'Forbidden: bot was blocked by the user');
    throw new ApiFailure(403, `Forbidden: bot was kicked from the ${chatId <= -1_000_000_000_000 ? 'supergroup' : 'group'} chat`);
  }
}

export function messageIdParam(params: Params, key = 'message_id'): number {
  const id = int(params, key);
  if (id === undefined || id <= 0) throw badRequest('message identifier is not specified');
  return id;
}

/** Text plus entities the way the real API stores a message's content after parsing. */
export interface Formatted {
  text: string;
  entities?: unknown[];
}

/**
 * Applies `parse_mode`/`entities` to text or a caption and enforces the length limit. HTML is parsed for real;
 * MarkdownV2 and Markdown are accepted but echoed verbatim (the product sends HTML).
 */
export function format(raw: string, parseMode: string | undefined, entities: unknown, kind: 'text' | 'caption'): Formatted {
  let result: Formatted = { text: raw };
  const mode = parseMode?.trim().toLowerCase() ?? '';
  if (mode === 'html') {
    const parsed = parseHtml(raw);
    if (!parsed.ok) throw badRequest(`can't parse entities: ${parsed.error}`);
    result = parsed.entities.length > 0 ? { text: parsed.text, entities: parsed.entities } : { text: parsed.text };
  } else if (mode !== '' && mode !== 'markdown' && mode !== 'markdownv2') {
    throw badRequest('unsupported parse_mode');
  } else if (Array.isArray(entities) && entities.length > 0) {
    result = { text: raw, entities };
  }
  if (kind === 'text' && result.text.trim() === '') throw badRequest('message text is empty');
  if (kind === 'text' && result.text.length > MAX_TEXT) throw badRequest('message is too long');
  if (kind === 'caption' && result.text.length > MAX_CAPTION) throw badRequest('message caption is too long');
  return result;
}

/** The message text fields for `sendMessage`/`editMessageText`. */
export function textContent(params: Params): Record<string, unknown> {
  const raw = str(params, 'text');
  if (raw === undefined) throw badRequest('message text is empty');
  const f = format(raw, str(params, 'parse_mode'), params.entities, 'text');
  return f.entities ? { text: f.text, entities: f.entities } : { text: f.text };
}

/** Caption fields for media sends and `editMessageCaption`; an absent caption yields `{}`. */
export function captionContent(params: Params): Record<string, unknown> {
  const raw = str(params, 'caption');
  if (raw === undefined || raw === '') return {};
  const f = format(raw, str(params, 'parse_mode'), params.caption_entities, 'caption');
  return f.entities ? { caption: f.text, caption_entities: f.entities } : { caption: f.text };
}

/** The real API echoes only inline keyboards back in the sent message. */
export function echoedMarkup(params: Params): Record<string, unknown> {
  const markup = params.reply_markup;
  if (markup && typeof markup === 'object' && 'inline_keyboard' in markup) return { reply_markup: markup };
  return {};
}

function randomId(prefix: string, bytes: number): string {
  return prefix + randomBytes(bytes).toString('base64url');
}

/**
 * File objects for a media parameter. A file_id string is echoed back as the file_id; URLs, `attach://`
 * references and uploads get a fresh id, as the real API returns its own ids for new files.
 */
export function mediaObject(kind: string, input: unknown): Record<string, unknown> {
  const given = typeof input === 'string' && !/^(https?:|attach:\/\/)/i.test(input) ? input : undefined;
  const fileName = input && typeof input === 'object' && 'file_name' in input ? String(input.file_name) : undefined;
  const file = () => ({ file_id: given ?? randomId('BQACAgIAAxkBAAI', 24), file_unique_id: randomId('AgAD', 8) });
  switch (kind) {
    case 'photo':
      return {
        photo: [
          { ...file(), file_size: 1_520, width: 90, height: 90 },
          { ...file(), file_size: 48_210, width: 800, height: 800 },
        ],
      };
    case 'video':
      return { video: { ...file(), width: 1280, height: 720, duration: 10, mime_type: 'video/mp4', file_size: 1_048_576 } };
    case 'animation': {
      const common = { ...file(), file_name: fileName ?? 'animation.mp4', mime_type: 'video/mp4', file_size: 262_144 };
      return { animation: { ...common, width: 480, height: 270, duration: 3 }, document: common };
    }
    case 'audio':
      return { audio: { ...file(), duration: 120, mime_type: 'audio/mpeg', file_size: 1_966_080 } };
    default:
      return { document: { ...file(), file_name: fileName ?? 'document.bin', mime_type: 'application/octet-stream', file_size: 4_096 } };
  }
}
