import { Composer } from 'grammy';
import type { BotContext } from './bot.context';

/** `/start`: a greeting in the user's language. */
export function startComposer(): Composer<BotContext> {
  const composer = new Composer<BotContext>();
  composer.chatType('private').command('start', async (ctx) => {
    await ctx.reply(ctx.t('start-greeting', { name: ctx.from.first_name }));
  });
  return composer;
}
