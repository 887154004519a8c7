import { FluentBundle, FluentResource, type FluentVariable } from '@fluent/bundle';
import { negotiateLanguages } from '@fluent/langneg';
import type { Context, MiddlewareFn } from 'grammy';
import en from '../../locales/en.ftl';
import ru from '../../locales/ru.ftl';

/** Fluent sources of `locales/*.ftl`, bundled as text. The first is the fallback. */
const sources: Record<string, string> = { en, ru };
const defaultLocale = 'en';

export type Translate = (key: string, args?: Record<string, FluentVariable>) => string;
export interface I18nFlavor {
  /** The message `key` in the user's language (their `language_code`), else English. */
  t: Translate;
  locale: string;
}

let bundles: Map<string, FluentBundle> | undefined;

function loadBundles(): Map<string, FluentBundle> {
  bundles = new Map();
  for (const [locale, source] of Object.entries(sources)) {
    const bundle = new FluentBundle(locale, { useIsolating: false });
    const errors = bundle.addResource(new FluentResource(source));
    if (errors.length) throw new Error(`locales/${locale}.ftl: ${errors.map((e) => e.message).join('; ')}`);
    bundles.set(locale, bundle);
  }
  return bundles;
}

const negotiated = new Map<string, string>();

/** The best supported locale for a Telegram `language_code` such as `ru`, `en-GB` or `pt-br`. */
export function negotiateLocale(languageCode: string | undefined): string {
  const code = languageCode ?? '';
  let best = negotiated.get(code);
  if (best === undefined) {
    best = negotiateLanguages(code ? [code] : [], Object.keys(sources), { defaultLocale, strategy: 'lookup' })[0] ?? defaultLocale;
    // Telegram sends a few hundred distinct codes at most; the memo stays small.
    if (negotiated.size < 1000) negotiated.set(code, best);
  }
  return best;
}

/** A translator for `locale`; a key missing there falls back to English, then to the key itself. */
export function translator(locale: string): Translate {
  const all = bundles ?? loadBundles();
  return (key, args) => {
    for (const bundle of [all.get(locale), all.get(defaultLocale)]) {
      const message = bundle?.getMessage(key);
      if (bundle && message?.value) return bundle.formatPattern(message.value, args);
    }
    return key;
  };
}

/** grammY middleware adding `ctx.t` and `ctx.locale` from the sender's `language_code`. */
export function i18n<C extends Context & I18nFlavor>(): MiddlewareFn<C> {
  return (ctx, next) => {
    ctx.locale = negotiateLocale(ctx.from?.language_code);
    ctx.t = translator(ctx.locale);
    return next();
  };
}
