import type { ApiReply } from './api.ts';
import {
  ApiFailure,
  assertCanPost,
  assertChatExists,
  badRequest,
  botUser,
  captionContent,
  chatIdParam,
  chatObject,
  echoedMarkup,
  errorReply,
  messageIdParam,
  okReply,
  textContent,
} from './api.ts';
import type { Decision, Timing } from './arrival.ts';
import { arriveSend } from './arrival.ts';
import type { Params } from './body.ts';
import { int, str } from './body.ts';
import { SEND_METHODS } from './sends.ts';
import type { State, TgMessage } from './state.ts';
import { messageKey, remember } from './state.ts';

type Handler = (state: State, token: string, params: Params) => ApiReply;

const NOT_MODIFIED =
  'message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message';

function getMe(_state: State, token: string): ApiReply {
  return okReply({
    ...botUser(token),
    can_join_groups: true,
    can_read_all_group_messages: false,
    supports_inline_queries: false,
    can_connect_to_business: false,
    has_main_web_app: false,
  });
}

/** Resolves an edit target; `undefined` means an inline message, which the real API answers with `true`. */
function editTarget(state: State, params: Params): { chatId: number; key: string; old?: TgMessage } | undefined {
  if (str(params, 'inline_message_id')) return undefined;
  const chatId = chatIdParam(params);
  const messageId = messageIdParam(params);
  assertCanPost(state.settings, chatId);
  const key = messageKey(chatId, messageId);
  if (state.gone.has(key) || state.settings.deleted.has(key)) throw badRequest('message to edit not found');
  // Messages the stand-in never saw (e.g. ones posted in test updates) are edited as if they existed.
  const old = state.messages.get(key);
  return old ? { chatId, key, old } : { chatId, key };
}

/** Shared tail of the edit methods: "not modified" check, store, answer with the edited message. */
function applyEdit(state: State, token: string, params: Params, drop: string[], content: Record<string, unknown>): ApiReply {
  const target = editTarget(state, params);
  if (!target) return okReply(true);
  const { chatId, old } = target;
  const now = Math.floor(Date.now() / 1000);
  const base: TgMessage = old ?? { message_id: messageIdParam(params), from: botUser(token), chat: chatObject(chatId), date: now };
  const next: TgMessage = { ...base };
  for (const k of [...drop, 'reply_markup']) delete next[k];
  Object.assign(next, content, echoedMarkup(params));
  const same = (k: string) => JSON.stringify(old?.[k]) === JSON.stringify(next[k]);
  if (old && [...drop, 'reply_markup'].every(same)) throw badRequest(NOT_MODIFIED);
  next.edit_date = now;
  remember(state, chatId, next);
  return okReply(next);
}

function editMessageText(state: State, token: string, params: Params): ApiReply {
  const content = textContent(params);
  const old = peekTarget(state, params);
  if (old && old.text === undefined) throw badRequest('there is no text in the message to edit');
  return applyEdit(state, token, params, ['text', 'entities'], content);
}

function editMessageCaption(state: State, token: string, params: Params): ApiReply {
  const content = captionContent(params);
  const old = peekTarget(state, params);
  if (old && old.text !== undefined) throw badRequest('there is no caption in the message to edit');
  return applyEdit(state, token, params, ['caption', 'caption_entities'], content);
}

function editMessageReplyMarkup(state: State, token: string, params: Params): ApiReply {
  return applyEdit(state, token, params, [], {});
}

/** The remembered message an edit points at, without validating (editTarget does that). */
function peekTarget(state: State, params: Params): TgMessage | undefined {
  const chatId = int(params, 'chat_id');
  const messageId = int(params, 'message_id');
  return chatId === undefined || messageId === undefined ? undefined : state.messages.get(messageKey(chatId, messageId));
}

function deleteMessage(state: State, _token: string, params: Params): ApiReply {
  const chatId = chatIdParam(params);
  const messageId = messageIdParam(params);
  assertChatExists(state.settings, chatId);
  const key = messageKey(chatId, messageId);
  if (state.gone.has(key) || state.settings.deleted.has(key)) throw badRequest('message to delete not found');
  state.gone.add(key);
  state.messages.delete(key);
  return okReply(true);
}

function answerCallbackQuery(_state: State, _token: string, params: Params): ApiReply {
  if (!str(params, 'callback_query_id')) throw badRequest('query is too old and response timeout expired or query ID is invalid');
  if ((str(params, 'text') ?? '').length > 200) throw badRequest('MESSAGE_TOO_LONG');
  return okReply(true);
}

function sendChatAction(state: State, _token: string, params: Params): ApiReply {
  const chatId = chatIdParam(params);
  if (!str(params, 'action')) throw badRequest('wrong parameter action in request');
  assertCanPost(state.settings, chatId);
  return okReply(true);
}

/** http:// is accepted too (the real API wants HTTPS) so a local `wrangler dev` can be the webhook. */
function setWebhook(state: State, token: string, params: Params): ApiReply {
  const url = str(params, 'url') ?? '';
  if (url === '') return deleteWebhook(state);
  if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) throw badRequest('bad webhook: Wrong HTTP URL specified');
  const secretToken = str(params, 'secret_token');
  if (secretToken !== undefined && !/^[A-Za-z0-9_-]{1,256}$/.test(secretToken)) {
    throw badRequest('secret token contains unallowed characters');
  }
  const maxConnections = int(params, 'max_connections') ?? 40;
  const same = state.webhook?.url === url;
  state.webhook = { url, token, maxConnections };
  if (secretToken) state.webhook.secretToken = secretToken;
  if (params.allowed_updates !== undefined) state.webhook.allowedUpdates = params.allowed_updates;
  return okReply(true, same ? 'Webhook is already set' : 'Webhook was set');
}

function deleteWebhook(state: State): ApiReply {
  const had = state.webhook !== undefined;
  state.webhook = undefined;
  return okReply(true, had ? 'Webhook was deleted' : 'Webhook is already deleted');
}

function getWebhookInfo(state: State): ApiReply {
  const w = state.webhook;
  if (!w) return okReply({ url: '', has_custom_certificate: false, pending_update_count: 0 });
  const info: Record<string, unknown> = {
    url: w.url,
    has_custom_certificate: false,
    pending_update_count: 0,
    max_connections: w.maxConnections,
  };
  if (w.allowedUpdates !== undefined) info.allowed_updates = w.allowedUpdates;
  if (w.lastErrorDate !== undefined) Object.assign(info, { last_error_date: w.lastErrorDate, last_error_message: w.lastErrorMessage });
  return okReply(info);
}

function commandsKey(params: Params): string {
  return `${JSON.stringify(params.scope ?? { type: 'default' })}|${str(params, 'language_code') ?? ''}`;
}

function setMyCommands(state: State, _token: string, params: Params): ApiReply {
  const commands = params.commands;
  if (!Array.isArray(commands)) throw badRequest("can't parse commands JSON object");
  if (commands.length > 100) throw badRequest('too many commands specified');
  for (const c of commands as unknown[]) {
    const cmd = c && typeof c === 'object' ? (c as Record<string, unknown>) : {};
    if (typeof cmd.command !== 'string' || !/^[a-z0-9_]{1,32}$/.test(cmd.command)) throw badRequest('BOT_COMMAND_INVALID');
    if (typeof cmd.description !== 'string' || cmd.description.length < 1 || cmd.description.length > 256) {
      throw badRequest('command description must be non-empty');
    }
  }
  state.commands.set(commandsKey(params), commands);
  return okReply(true);
}

function getMyCommands(state: State, _token: string, params: Params): ApiReply {
  return okReply(state.commands.get(commandsKey(params)) ?? []);
}

function getChat(state: State, _token: string, params: Params): ApiReply {
  const chatId = chatIdParam(params);
  assertChatExists(state.settings, chatId);
  return okReply({ ...chatObject(chatId), accent_color_id: 0, max_reaction_count: 11, accepted_gift_types: {} });
}

const OTHER_METHODS: Record<string, Handler> = {
  getMe,
  editMessageText,
  editMessageReplyMarkup,
  editMessageCaption,
  deleteMessage,
  answerCallbackQuery,
  sendChatAction,
  setWebhook,
  deleteWebhook: (state) => deleteWebhook(state),
  getWebhookInfo: (state) => getWebhookInfo(state),
  setMyCommands,
  getMyCommands,
  getChat,
};

/** Lower-cased name → canonical name; the real API matches method names case-insensitively. */
const CANONICAL = new Map([...Object.keys(SEND_METHODS), ...Object.keys(OTHER_METHODS)].map((m) => [m.toLowerCase(), m]));

function guard(run: () => ApiReply): ApiReply {
  try {
    return run();
  } catch (e) {
    if (e instanceof ApiFailure) return e.reply;
    throw e;
  }
}

/**
 * Decides a call arriving at `t.at`. Sends go through {@link arriveSend}; other methods are neither counted nor
 * held by flood waits. `params` is undefined when the body could not be parsed.
 */
export function dispatch(state: State, token: string, name: string, params: Params | undefined, t: Timing): Decision {
  const method = CANONICAL.get(name.toLowerCase());
  if (!method) return { reply: errorReply(404, 'Not Found') };
  state.stats.byMethod[method] = (state.stats.byMethod[method] ?? 0) + 1;
  const other = OTHER_METHODS[method];
  if (!other) return arriveSend(state, token, method, params, t);
  const reply = params === undefined ? errorReply(400, "Bad Request: can't parse request body") : guard(() => other(state, token, params));
  state.calls.push({ seq: ++state.seq, method, params: params ?? {}, status: reply.status, at: t.at });
  return { reply };
}

/** Runs a call at once, without latency, for webhook replies (`{ method, ...params }` answers). */
export function callNow(state: State, token: string, name: string, params: Params): ApiReply {
  const now = Date.now();
  return dispatch(state, token, name, params, { sentAt: now, at: now }).reply;
}
