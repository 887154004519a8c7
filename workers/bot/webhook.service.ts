import type { Update } from 'grammy/types';
import { createBot } from './bot';
import type { BotDeps } from './bot.context';
import { claimUpdate } from './updates.repo';

export type UpdateOutcome = 'handled' | 'duplicate';

/**
 * Handles one update exactly once. The update id is recorded in the same transaction as everything the
 * handlers write, so a failure (Postgres down, a crash) rolls both back and the non-2xx answer makes
 * Telegram deliver it again; a redelivery of a handled update is recognised and skipped.
 */
export async function handleUpdate(deps: BotDeps, update: { update_id: number }): Promise<UpdateOutcome> {
  return deps.db.transaction(async (tx) => {
    if (!(await claimUpdate(tx, update.update_id))) {
      deps.log.info('update_duplicate', { update_id: update.update_id });
      return 'duplicate';
    }
    await createBot({ ...deps, db: tx }).handleUpdate(update as Update);
    return 'handled';
  });
}
