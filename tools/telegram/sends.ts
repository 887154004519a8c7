import type { ApiReply } from './api.ts';
import {
  assertCanPost,
  assertChatExists,
  badRequest,
  botUser,
  captionContent,
  chatIdParam,
  chatObject,
  echoedMarkup,
  format,
  mediaObject,
  messageIdParam,
  okReply,
  textContent,
} from './api.ts';
import type { Params } from './body.ts';
import { bool } from './body.ts';
import type { Delivery, State, TgMessage } from './state.ts';
import { messageKey, nextMessageId, remember } from './state.ts';

/** A validated send, ready for the per-chat limit and then to be committed. */
export interface SendPlan {
  chatId: number;
  paid: boolean;
  /** One entry per message to create: content fields only, the envelope is added on commit. */
  contents: Array<Record<string, unknown>>;
  /** Shape of `result`: one Message, an array of Messages (media group) or copyMessage's `{ message_id }`. */
  shape: 'message' | 'messages' | 'message_id';
}

/** Content fields a copy or forward takes over from the source message. */
const CONTENT_KEYS = ['text', 'entities', 'caption', 'caption_entities', 'photo', 'video', 'animation', 'audio', 'document'];

function plan(params: Params, chatId: number, contents: Array<Record<string, unknown>>, shape: SendPlan['shape'] = 'message'): SendPlan {
  return { chatId, paid: bool(params, 'allow_paid_broadcast'), contents, shape };
}

function sendMessage(_state: State, params: Params): SendPlan {
  const chatId = chatIdParam(params);
  const content = { ...textContent(params), ...echoedMarkup(params) };
  return plan(params, chatId, [content]);
}

function sendMedia(kind: 'photo' | 'video' | 'document' | 'animation') {
  return (_state: State, params: Params): SendPlan => {
    const chatId = chatIdParam(params);
    const input = params[kind];
    if (input === undefined || input === '') throw badRequest(`there is no ${kind} in the request`);
    const content = { ...mediaObject(kind, input), ...captionContent(params), ...echoedMarkup(params) };
    return plan(params, chatId, [content]);
  };
}

/** Source lookup shared by copy and forward; `verb` picks the real API's "message to copy/forward not found". */
function source(state: State, params: Params, verb: 'copy' | 'forward'): { fromChatId: number; message?: TgMessage } {
  const fromChatId = chatIdParam(params, 'from_chat_id');
  const messageId = messageIdParam(params);
  assertChatExists(state.settings, fromChatId);
  const key = messageKey(fromChatId, messageId);
  if (state.settings.deleted.has(key) || state.gone.has(key)) throw badRequest(`message to ${verb} not found`);
  return { fromChatId, message: state.messages.get(key) };
}

function sourceContent(message: TgMessage | undefined): Record<string, unknown> {
  const content: Record<string, unknown> = {};
  if (message) for (const k of CONTENT_KEYS) if (message[k] !== undefined) content[k] = message[k];
  return content;
}

function copyMessage(state: State, params: Params): SendPlan {
  const chatId = chatIdParam(params);
  const { message } = source(state, params, 'copy');
  const content = sourceContent(message);
  // A new caption (or remove_caption) replaces the source's; text messages have no caption to replace.
  if (content.text === undefined && (params.caption !== undefined || bool(params, 'remove_caption'))) {
    delete content.caption;
    delete content.caption_entities;
    if (!bool(params, 'remove_caption')) Object.assign(content, captionContent(params));
  }
  return plan(params, chatId, [{ ...content, ...echoedMarkup(params) }], 'message_id');
}

function forwardMessage(state: State, params: Params): SendPlan {
  const chatId = chatIdParam(params);
  const { fromChatId, message } = source(state, params, 'forward');
  const date = message?.date ?? Math.floor(Date.now() / 1000);
  const origin =
    fromChatId < 0
      ? {
          type: 'channel',
          chat: { ...chatObject(fromChatId), type: 'channel' },
          message_id: message?.message_id ?? params.message_id,
          date,
        }
      : { type: 'user', sender_user: { id: fromChatId, is_bot: false, first_name: 'User' }, date };
  return plan(params, chatId, [{ forward_origin: origin, forward_date: date, ...sourceContent(message) }]);
}

function sendMediaGroup(_state: State, params: Params): SendPlan {
  const chatId = chatIdParam(params);
  const media = params.media;
  if (!Array.isArray(media) || media.length < 2 || media.length > 10) throw badRequest('media group must include 2-10 items');
  const groupId = String(Date.now()) + String(Math.floor(Math.random() * 1000)).padStart(3, '0');
  const contents = media.map((item: unknown) => {
    if (!item || typeof item !== 'object') throw badRequest("can't parse InputMedia: Object expected");
    const m = item as Record<string, unknown>;
    const type = typeof m.type === 'string' ? m.type : '';
    if (!['photo', 'video', 'document', 'audio'].includes(type)) {
      throw badRequest(`can't parse InputMedia: unsupported media type "${type}"`);
    }
    if (m.media === undefined || m.media === '') throw badRequest(`there is no ${type} in the request`);
    const caption = typeof m.caption === 'string' && m.caption !== '' ? m.caption : undefined;
    const mode = typeof m.parse_mode === 'string' ? m.parse_mode : undefined;
    const f = caption === undefined ? undefined : format(caption, mode, m.caption_entities, 'caption');
    const captionFields = f ? (f.entities ? { caption: f.text, caption_entities: f.entities } : { caption: f.text }) : {};
    return { media_group_id: groupId, ...mediaObject(type, m.media), ...captionFields };
  });
  return plan(params, chatId, contents, 'messages');
}

/** Planners for the send methods, keyed by canonical method name; they validate and throw ApiFailure. */
export const SEND_METHODS: Record<string, (state: State, params: Params) => SendPlan> = {
  sendMessage,
  copyMessage,
  forwardMessage,
  sendPhoto: sendMedia('photo'),
  sendVideo: sendMedia('video'),
  sendDocument: sendMedia('document'),
  sendAnimation: sendMedia('animation'),
  sendMediaGroup,
};

/** Checks the target chat after the content checks, in the real API's order (content errors come first). */
export function planSend(state: State, method: string, params: Params): SendPlan {
  const planner = SEND_METHODS[method];
  if (!planner) throw new Error(`not a send method: ${method}`);
  const p = planner(state, params);
  assertCanPost(state.settings, p.chatId);
  return p;
}

/**
 * Creates the messages of a delivered send, records them as deliveries at `at` (its arrival, epoch ms) and
 * builds the success answer.
 */
export function commitSend(state: State, token: string, method: string, params: Params, p: SendPlan, at: number): ApiReply {
  const date = Math.floor(at / 1000);
  const from = botUser(token);
  const chat = chatObject(p.chatId);
  const messages = p.contents.map((content) => {
    const message: TgMessage = { message_id: nextMessageId(state, p.chatId), from, chat, date, ...content };
    remember(state, p.chatId, message);
    const delivery: Delivery = { seq: ++state.seq, method, chat_id: p.chatId, message_id: message.message_id, paid: p.paid, at, params };
    if (message.text !== undefined) delivery.text = message.text;
    if (message.caption !== undefined) delivery.caption = message.caption;
    state.deliveries.push(delivery);
    return message;
  });
  const first = messages[0];
  if (p.shape === 'messages') return okReply(messages);
  if (!first) throw new Error('send produced no message');
  return okReply(p.shape === 'message_id' ? { message_id: first.message_id } : first);
}
