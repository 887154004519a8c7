import { Composer } from 'grammy';
import type { BotContext } from '../bot/bot.context';
import { setUserBlocked, upsertSeenUser } from './users.repo';

/**
 * User tracking. Every update from a private chat upserts its user (active again); a private chat's
 * `my_chat_member` with status `kicked` marks them inactive, `member` active. Database errors are not
 * caught here: they fail the update so Telegram delivers it again.
 */
export function usersComposer(): Composer<BotContext> {
  const composer = new Composer<BotContext>();
  composer.use(async (ctx, next) => {
    const from = ctx.from;
    if (from && !from.is_bot && ctx.chat?.type === 'private') {
      await upsertSeenUser(ctx.deps.db, {
        telegramId: from.id,
        username: from.username ?? null,
        fullName: [from.first_name, from.last_name].filter(Boolean).join(' '),
        languageCode: from.language_code ?? null,
      });
    }
    await next();
  });
  composer.chatType('private').on('my_chat_member', async (ctx, next) => {
    const status = ctx.myChatMember.new_chat_member.status;
    if (status === 'kicked' || status === 'member') {
      await setUserBlocked(ctx.deps.db, ctx.myChatMember.chat.id, status === 'kicked');
      ctx.deps.log.info('user_membership', { telegram_id: ctx.myChatMember.chat.id, status });
    }
    await next();
  });
  return composer;
}
