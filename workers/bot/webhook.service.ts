import type { Update } from 'grammy/types';
import { botInfo } from '../core/telegram';
import { trackedUser } from '../users/users.tracking';
import { runBot } from './bot';
import type { BotDeps } from './bot.context';
import { recordUpdate } from './updates.repo';

export type UpdateOutcome = 'handled' | 'duplicate';

/**
 * Handles one update once. Its id and its user (profile, blocked or not) are recorded in one
 * statement: if Postgres is down nothing is recorded, the error answers non-2xx and Telegram delivers
 * the update again; a redelivery of a recorded update is skipped. Features run after the record, so a
 * failing reply is logged, never answered with a retry that would double what already happened.
 */
export async function handleUpdate(deps: BotDeps, update: Update): Promise<UpdateOutcome> {
  const user = trackedUser(update, botInfo(deps.config));
  if (!(await recordUpdate(deps.db, update.update_id, user))) {
    deps.log.info('update_duplicate', { update_id: update.update_id });
    return 'duplicate';
  }
  if (update.my_chat_member && user) deps.log.info('user_membership', { telegram_id: user.telegramId, active: user.active });
  await runBot(deps, update);
  return 'handled';
}
