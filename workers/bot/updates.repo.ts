import { lt, sql } from 'drizzle-orm';
import type { Db } from '../core/db';
import type { TrackedUser } from '../users/users.tracking';
import { telegramUpdatesTable } from './updates.schema';

/**
 * Records an update and the user it comes from in one statement, so both happen or neither does.
 * Returns false, changing nothing, when the update id was recorded before (a redelivery).
 */
export async function recordUpdate(db: Db, updateId: number, user: TrackedUser | undefined): Promise<boolean> {
  const tracked = user
    ? sql`, tracked as (
        insert into users (telegram_id, username, full_name, language_code, is_active, blocked_at)
        select ${user.telegramId}, ${user.username}, ${user.fullName}, ${user.languageCode}, ${user.active},
               case when ${user.active} then null else now() end
         where exists (select 1 from claim)
        on conflict (telegram_id) do update
           set username = excluded.username, full_name = excluded.full_name,
               language_code = coalesce(excluded.language_code, users.language_code),
               is_active = excluded.is_active, blocked_at = excluded.blocked_at, updated_at = now())`
    : sql``;
  const result = await db.execute<{ fresh: number }>(sql`
    with claim as (insert into telegram_updates (update_id) values (${updateId}) on conflict do nothing returning update_id)
    ${tracked}
    select count(*)::int as fresh from claim`);
  return result.rows[0]?.fresh === 1;
}

/** Forgets update ids older than `days` (Telegram stops redelivering long before). Returns how many. */
export async function deleteOldUpdates(db: Db, days: number): Promise<number> {
  const result = await db
    .delete(telegramUpdatesTable)
    .where(lt(telegramUpdatesTable.receivedAt, sql`now() - make_interval(days => ${days})`));
  return result.rowCount ?? 0;
}
