import { I18n } from '@grammyjs/i18n';
import en from '../../locales/en.ftl';
import ru from '../../locales/ru.ftl';
import type { BotContext } from './bot.context';

let instance: I18n<BotContext> | undefined;

/** Fluent translations from `locales/*.ftl`, bundled as text; the user's `language_code` picks one, else English. */
export function i18n(): I18n<BotContext> {
  if (instance) return instance;
  instance = new I18n<BotContext>({
    defaultLocale: 'en',
    useSession: false,
    localeNegotiator: (ctx) => ctx.from?.language_code ?? 'en',
  });
  instance.loadLocale('en', { source: en });
  instance.loadLocale('ru', { source: ru });
  return instance;
}
