import { Bot } from 'grammy';
import { botInfo } from '../core/telegram';
import { usersComposer } from '../users/users.bot';
import type { BotContext, BotDeps } from './bot.context';
import { i18n } from './i18n';
import { startComposer } from './start.bot';

/**
 * The bot for one update. Tracking runs first and outside the error boundary, so a database failure
 * fails the update (Telegram redelivers it); a failing feature is logged and the update is done.
 */
export function createBot(deps: BotDeps): Bot<BotContext> {
  const bot = new Bot<BotContext>(deps.config.BOT_TOKEN, {
    botInfo: botInfo(deps.config),
    client: { apiRoot: deps.config.TELEGRAM_API_ROOT },
  });
  bot.use((ctx, next) => {
    ctx.deps = deps;
    return next();
  });
  bot.use(usersComposer());
  bot.errorBoundary(
    (err) => deps.log.error('bot_feature_failed', { update_id: err.ctx.update.update_id, error: err.message }),
    i18n(),
    startComposer(),
  );
  return bot;
}
