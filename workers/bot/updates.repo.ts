import { lt, sql } from 'drizzle-orm';
import type { Db } from '../core/db';
import { telegramUpdatesTable } from './updates.schema';

/** Records an update id; false when it was seen before (a redelivery). */
export async function claimUpdate(db: Db, updateId: number): Promise<boolean> {
  const rows = await db
    .insert(telegramUpdatesTable)
    .values({ updateId })
    .onConflictDoNothing()
    .returning({ updateId: telegramUpdatesTable.updateId });
  return rows.length === 1;
}

/** Forgets update ids older than `days` (Telegram stops redelivering long before). Returns how many. */
export async function deleteOldUpdates(db: Db, days: number): Promise<number> {
  const result = await db
    .delete(telegramUpdatesTable)
    .where(lt(telegramUpdatesTable.receivedAt, sql`now() - make_interval(days => ${days})`));
  return result.rowCount ?? 0;
}
