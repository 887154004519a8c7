import type { Db } from '../core/db';
import type { KickFn } from '../tasks/task';
import { insertNotifications, type NewNotification } from './notifications.repo';

/**
 * Queues notifications and dispatches them at once: a `process_notifications` run is kicked right
 * after the insert, unless one is already queued and has not started (it will take these too), so a
 * burst of inserts costs one run. The cron sweep is the safety net. Returns the ids queued now.
 */
export async function notify(deps: { db: Db; kick: KickFn }, rows: NewNotification[]): Promise<string[]> {
  return (await queue(deps, rows)).ids;
}

/** `notify`, also saying when each queued row is due (the database's clock when none was given). */
export async function queue(deps: { db: Db; kick: KickFn }, rows: NewNotification[]): Promise<{ ids: string[]; scheduledAt: string[] }> {
  const { ids, scheduledAt, kick } = await insertNotifications(deps.db, rows);
  // The rows are stored: a kick the queue refuses (logged by the kick) is the cron sweep's to make
  // up for within a minute. Failing here would have the caller try again and queue them twice.
  if (kick) await deps.kick('process_notifications', {}).catch(() => undefined);
  return { ids, scheduledAt };
}
