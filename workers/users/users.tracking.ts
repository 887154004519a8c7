import { Context } from 'grammy';
import type { Update, UserFromGetMe } from 'grammy/types';

/** The user an update comes from, as the users table records them. */
export interface TrackedUser {
  telegramId: number;
  username: string | null;
  fullName: string;
  languageCode: string | null;
  /** False when the update is the user blocking the bot (`my_chat_member` → `kicked`). */
  active: boolean;
}

/**
 * Who to track for an update: the sender of anything in a private chat. A private chat's
 * `my_chat_member` with status `kicked` is the user blocking the bot; `member` is them unblocking it.
 * Groups, channels and bots are not tracked. grammY's Context reads `from` and `chat` of every kind.
 */
export function trackedUser(update: Update, me: UserFromGetMe): TrackedUser | undefined {
  // The Api is never called here; Context only needs one to exist.
  const ctx = new Context(update, undefined as never, me);
  const from = ctx.from;
  if (!from || from.is_bot || ctx.chat?.type !== 'private') return undefined;
  return {
    telegramId: from.id,
    username: from.username ?? null,
    fullName: [from.first_name, from.last_name].filter(Boolean).join(' '),
    languageCode: from.language_code ?? null,
    active: update.my_chat_member?.new_chat_member.status !== 'kicked',
  };
}
