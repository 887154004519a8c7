import { env } from 'cloudflare:workers';
import { sql } from 'drizzle-orm';
import { getConfig } from '../core/config';
import { createDb, type Db } from '../core/db';
import { usersTable } from '../users/users.schema';

/** Runs `fn` against the test database with a fresh handle. */
export function withTestDb<T>(fn: (db: Db) => Promise<T>): Promise<T> {
  return fn(createDb(getConfig(env)));
}

let nextId = Math.floor(Math.random() * 1e6) * 1000 + 1_000_000_000;
/** A Telegram id no other test of this file has used (the file's database and stand-ins outlive each test). */
export function uniqueTelegramId(): number {
  return nextId++;
}

/** Adds `n` active users (no language of their own) to the file's database; their ids. */
export async function addUsers(n: number): Promise<number[]> {
  const ids = Array.from({ length: n }, () => uniqueTelegramId());
  await withTestDb((db) => db.insert(usersTable).values(ids.map((telegramId) => ({ telegramId, fullName: `U${telegramId}` }))));
  return ids;
}

/**
 * Makes Postgres refuse to queue notifications to `telegramId` (a trigger in the test file's own
 * database, raising as a full disk would) until the returned function is called.
 */
export async function refuseNotificationsTo(telegramId: number): Promise<() => Promise<void>> {
  await withTestDb(async (db) => {
    await db.execute(sql`create table if not exists test_refused (telegram_id bigint primary key)`);
    await db.execute(sql`create or replace function test_refuse() returns trigger language plpgsql as $$
      begin
        if exists (select 1 from test_refused where telegram_id = new.telegram_id) then
          raise exception 'could not extend file: No space left on device';
        end if;
        return new;
      end $$`);
    await db.execute(sql`drop trigger if exists test_refuse on notification_queue`);
    await db.execute(sql`create trigger test_refuse before insert on notification_queue for each row execute function test_refuse()`);
    await db.execute(sql`insert into test_refused values (${telegramId})`);
  });
  return async () => {
    await withTestDb((db) => db.execute(sql`delete from test_refused where telegram_id = ${telegramId}`));
  };
}
