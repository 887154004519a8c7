import type { Context } from 'grammy';
import type { Config } from '../core/config';
import type { Db } from '../core/db';
import type { Logger } from '../core/logger';
import type { KickFn } from '../tasks/task';
import type { I18nFlavor } from './i18n';

/** What bot handlers get besides the update: bindings, the database, config, the request's logger, task kicks. */
export interface BotDeps {
  env: Env;
  db: Db;
  config: Config;
  log: Logger;
  kick: KickFn;
}

export type BotContext = Context & I18nFlavor & { deps: BotDeps };
