import type { FluentVariable } from '@fluent/bundle';
import { negotiateLocale, translator } from '../bot/i18n';

export type TemplateName =
  | 'payment-confirmed'
  | 'payment-expired'
  | 'expiry-reminder'
  | 'subscription-expired'
  | 'renewal-invoice'
  | 'traffic-reset';

/**
 * A notification text (Telegram HTML) from `locales/*.ftl` (`notify-<name>`) in the user's language,
 * else English. Arguments are inserted as given: escape user-provided text with `escapeHtml` first.
 */
export function renderTemplate(name: TemplateName, languageCode: string | null | undefined, args: Record<string, FluentVariable>): string {
  return translator(negotiateLocale(languageCode ?? undefined))(`notify-${name}`, args);
}
