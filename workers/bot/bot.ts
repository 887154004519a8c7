import { Bot } from 'grammy';
import type { Update } from 'grammy/types';
import type { Config } from '../core/config';
import { botInfo } from '../core/telegram';
import { Outbound } from '../telegram/outbound';
import { adminComposer } from './admin.bot';
import type { BotContext, BotDeps } from './bot.context';
import { campaignsComposer } from './campaigns.bot';
import { i18n } from './i18n';
import { startComposer } from './start.bot';

const bots = new WeakMap<Config, Bot<BotContext>>();
const depsOfUpdate = new WeakMap<Update, BotDeps>();

/**
 * Runs the bot's features on one update with this request's dependencies (`ctx.deps`). The bot is
 * built once per isolate; the features sit inside an error boundary, so a failing feature is logged
 * and the update is done (user tracking happened before, in `handleUpdate`).
 */
export async function runBot(deps: BotDeps, update: Update): Promise<void> {
  let bot = bots.get(deps.config);
  if (!bot) {
    bot = createBot(deps.config);
    bots.set(deps.config, bot);
  }
  depsOfUpdate.set(update, deps);
  await bot.handleUpdate(update);
}

function createBot(config: Config): Bot<BotContext> {
  const bot = new Bot<BotContext>(config.BOT_TOKEN, { botInfo: botInfo(config) });
  bot.use((ctx, next) => {
    const deps = depsOfUpdate.get(ctx.update);
    if (!deps) throw new Error(`update ${ctx.update.update_id} reached the bot without its dependencies`);
    ctx.deps = deps;
    // Replies are sends of the bot like any other: through the outbound path, within this request's
    // connection cap (a transformer on ctx.api applies to this update only).
    ctx.api.config.use(new Outbound(deps.config, deps.env).transformer());
    return next();
  });
  bot.errorBoundary(
    (err) => err.ctx.deps.log.error('bot_feature_failed', { update_id: err.ctx.update.update_id, error: err.message }),
    i18n(),
    startComposer(),
    adminComposer(config.ADMIN_TELEGRAM_IDS),
    campaignsComposer(config.ADMIN_TELEGRAM_IDS),
  );
  return bot;
}
