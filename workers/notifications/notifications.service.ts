import type { Db } from '../core/db';
import type { KickFn } from '../tasks/task';
import { insertNotifications, type NewNotification } from './notifications.repo';

/**
 * Queues notifications and dispatches them at once: a `process_notifications` run is kicked right
 * after the insert (the cron sweep is only the safety net). Returns the ids of the rows queued now.
 */
export async function notify(deps: { db: Db; kick: KickFn }, rows: NewNotification[]): Promise<string[]> {
  const ids = await insertNotifications(deps.db, rows);
  if (ids.length) await deps.kick('process_notifications', {});
  return ids;
}
