import { env } from 'cloudflare:workers';
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
