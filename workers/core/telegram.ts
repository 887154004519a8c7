import { Api, type Transformer } from 'grammy';
import type { UserFromGetMe } from 'grammy/types';
import { botGate } from '../../durable-objects/gate/gate.do';
import { sleepUntil } from './concurrency';
import type { Config } from './config';
import type { Logger } from './logger';
import { errorMessage } from './logger';

/**
 * A Bot API client pointed at `TELEGRAM_API_ROOT`. Cheap: no request is made until a method is called.
 * With `env`, every message it sends or edits first takes a slot of the bot-wide budget (`BotGate`),
 * and a 429 it gets stops every sender of the bot for `retry_after`.
 */
export function createApi(config: Pick<Config, 'BOT_TOKEN' | 'TELEGRAM_API_ROOT'>, env?: Env): Api {
  const api = new Api(config.BOT_TOKEN, { apiRoot: config.TELEGRAM_API_ROOT });
  if (env) api.config.use(throughGate(env));
  return api;
}

/** Methods that put a message in a chat (or change one): the ones Telegram's send limits count. */
const MESSAGE_METHOD = /^(send|copy|forward|edit)/;

/**
 * Waits for a slot of the bot-wide budget for one message and returns at its time; or, while the bot
 * waits out a 429, returns at once with when that ends.
 */
export async function takeSlot(env: Env): Promise<{ ok: true } | { ok: false; blockedUntil: number }> {
  const gate = botGate(env);
  for (;;) {
    const grant = await gate.acquire({ count: 1, paid: false, notBefore: 0, spacingMs: 0 });
    const at = grant.times[0];
    if (at !== undefined) {
      await sleepUntil(at);
      return { ok: true };
    }
    if (grant.blockedUntil !== undefined) return { ok: false, blockedUntil: grant.blockedUntil };
    // Every slot of the next second is taken: ask again when there is room.
    await sleepUntil(grant.askAgainAt ?? Date.now() + 50);
  }
}

function throughGate(env: Env): Transformer {
  return async (prev, method, payload, signal) => {
    if (!MESSAGE_METHOD.test(method)) return prev(method, payload, signal);
    const slot = await takeSlot(env);
    if (!slot.ok) {
      // The bot is waiting out a 429: answer as Telegram would, without asking it.
      const wait = Math.max(1, Math.ceil((slot.blockedUntil - Date.now()) / 1000));
      return { ok: false, error_code: 429, description: `Too Many Requests: retry after ${wait}`, parameters: { retry_after: wait } };
    }
    const gate = botGate(env);
    const res = await prev(method, payload, signal);
    if (!res.ok && res.error_code === 429 && res.parameters?.retry_after) await gate.block(Date.now() + res.parameters.retry_after * 1000);
    return res;
  };
}

/** The preset `botInfo`, so a cold start never spends a getMe round trip. */
export function botInfo(config: Pick<Config, 'BOT_TOKEN' | 'BOT_USERNAME'>): UserFromGetMe {
  return {
    id: Number(config.BOT_TOKEN.split(':')[0]),
    is_bot: true,
    first_name: config.BOT_USERNAME,
    username: config.BOT_USERNAME,
    can_join_groups: true,
    can_read_all_group_messages: false,
    supports_inline_queries: false,
    can_connect_to_business: false,
    has_main_web_app: false,
    has_topics_enabled: false,
    allows_users_to_create_topics: false,
    can_manage_bots: false,
    supports_join_request_queries: false,
  };
}

/** Sends `text` (HTML) to every admin in `ADMIN_TELEGRAM_IDS`; a failed send is logged, never thrown. */
export async function notifyAdmins(api: Api, config: Pick<Config, 'ADMIN_TELEGRAM_IDS'>, text: string, log: Logger): Promise<void> {
  await Promise.all(
    config.ADMIN_TELEGRAM_IDS.map((chatId) =>
      api
        .sendMessage(chatId, text, { parse_mode: 'HTML' })
        .catch((err: unknown) => log.warn('admin_notify_failed', { chat_id: chatId, error: errorMessage(err) })),
    ),
  );
}

/** Tells the admin who asked for a job (`requestedBy`), or every admin when nobody in particular did. */
export function notifyRequester(
  api: Api,
  config: Pick<Config, 'ADMIN_TELEGRAM_IDS'>,
  requestedBy: number | undefined,
  text: string,
  log: Logger,
) {
  return notifyAdmins(api, requestedBy ? { ADMIN_TELEGRAM_IDS: [requestedBy] } : config, text, log);
}

/** Escapes text for Telegram's HTML parse mode. */
export function escapeHtml(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}
