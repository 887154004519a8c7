import { Bot } from 'grammy';
import { botInfo } from '../core/telegram';
import type { BotContext, BotDeps } from './bot.context';
import { i18n } from './i18n';
import { startComposer } from './start.bot';

/**
 * The bot for one update, its features inside an error boundary: a failing feature is logged and the
 * update is done (user tracking happens before, in `handleUpdate`).
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
  bot.errorBoundary(
    (err) => deps.log.error('bot_feature_failed', { update_id: err.ctx.update.update_id, error: err.message }),
    i18n(),
    startComposer(),
  );
  return bot;
}
