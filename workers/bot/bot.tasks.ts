import { z } from 'zod';
import { defineTask, seedPolicies } from '../tasks/task';
import { deleteOldUpdates } from './updates.repo';

/** Forgets handled update ids after `days` days (Telegram gives up redelivering within a day). */
export const cleanupTelegramUpdatesTask = defineTask({
  name: 'cleanup_telegram_updates',
  args: z.object({ days: z.number().int().min(1).default(7) }).strict(),
  retry: seedPolicies.cleanup,
  onExhausted: 'warn',
  handler: async ({ db, args, log }) => {
    const deleted = await deleteOldUpdates(db, args.days);
    log.info('telegram_updates_cleaned', { deleted });
    return { deleted };
  },
});
