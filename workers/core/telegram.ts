import type { Api } from 'grammy';
import type { UserFromGetMe } from 'grammy/types';
import { incidents } from '../../durable-objects/incidents/incidents.do';
import { botApi } from '../telegram/outbound';
import type { Config } from './config';
import type { Logger } from './logger';
import { errorMessage } from './logger';

/**
 * A Bot API client for one invocation: every call goes through the outbound path
 * (`workers/telegram/outbound.ts`), so each message takes a slot of the bot-wide budget and a 429
 * stops every sender of the bot.
 */
export function createApi(config: Config, env: Env): Api {
  return botApi(config, env);
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

/**
 * Tells every admin in `ADMIN_TELEGRAM_IDS` (HTML). The message goes to the incident ledger's outbox and
 * is delivered by it through the outbound path, ahead of broadcasts, retried until Telegram has it:
 * queuing it is the only step that can fail here, and that is logged, never thrown.
 */
export async function notifyAdmins(env: Env, config: Pick<Config, 'ADMIN_TELEGRAM_IDS'>, text: string, log: Logger): Promise<void> {
  try {
    await incidents(env).alert(config.ADMIN_TELEGRAM_IDS, text);
  } catch (err) {
    log.warn('admin_notify_failed', { error: errorMessage(err) });
  }
}

/** Tells the admin who asked for a job (`requestedBy`), or every admin when nobody in particular did. */
export function notifyRequester(
  env: Env,
  config: Pick<Config, 'ADMIN_TELEGRAM_IDS'>,
  requestedBy: number | undefined,
  text: string,
  log: Logger,
) {
  return notifyAdmins(env, requestedBy ? { ADMIN_TELEGRAM_IDS: [requestedBy] } : config, text, log);
}

/** Escapes text for Telegram's HTML parse mode. */
export function escapeHtml(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}
