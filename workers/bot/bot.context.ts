import type { Context } from 'grammy';
import type { Config } from '../core/config';
import type { Db } from '../core/db';
import type { Logger } from '../core/logger';
import type { I18nFlavor } from './i18n';

/** What bot handlers get besides the update: the request's database transaction, config and logger. */
export interface BotDeps {
  db: Db;
  config: Config;
  log: Logger;
}

export type BotContext = Context & I18nFlavor & { deps: BotDeps };
