import { Composer } from 'grammy';
import type { BotContext } from './bot.context';

/**
 * Commands for the operators in `ADMIN_TELEGRAM_IDS`; anyone else gets nothing from them.
 * `/ping`: kicks `ping_db` and answers with its run id (`GET /api/tasks/<id>` shows the result).
 */
export function adminComposer(adminIds: readonly number[]): Composer<BotContext> {
  const composer = new Composer<BotContext>();
  const admins = composer.chatType('private').filter((ctx) => adminIds.includes(ctx.from.id));
  admins.command('ping', async (ctx) => {
    const run = await ctx.deps.kick('ping_db', {}, { idempotencyKey: `bot:ping:${ctx.update.update_id}` });
    await ctx.reply(ctx.t('ping-queued', { id: run.id }));
  });
  return composer;
}
