import { lt, sql } from 'drizzle-orm';
import type { Db } from '../core/db';
import type { TrackedUser } from '../users/users.tracking';
import { refusedAlbumsTable, telegramUpdatesTable } from './updates.schema';

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

/** Forgets update ids (and refused albums) older than `days` (Telegram stops redelivering long before). Returns how many updates. */
export async function deleteOldUpdates(db: Db, days: number): Promise<number> {
  const before = sql`now() - make_interval(days => ${days})`;
  await db.delete(refusedAlbumsTable).where(lt(refusedAlbumsTable.receivedAt, before));
  const result = await db.delete(telegramUpdatesTable).where(lt(telegramUpdatesTable.receivedAt, before));
  return result.rowCount ?? 0;
}

/** True for the first item of an album seen: the one the admin is told about. */
export async function firstOfAlbum(db: Db, mediaGroupId: string): Promise<boolean> {
  const rows = await db.insert(refusedAlbumsTable).values({ mediaGroupId }).onConflictDoNothing().returning();
  return rows.length > 0;
}
