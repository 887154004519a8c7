import type { UserFromGetMe } from 'grammy/types';
import type { Config } from './config';

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

/** Escapes text for Telegram's HTML parse mode. */
export function escapeHtml(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}
