import { env } from 'cloudflare:workers';
import { getConfig } from '../core/config';
import { createDb, type Db } from '../core/db';

/** Runs `fn` against the test database with a fresh handle. */
export function withTestDb<T>(fn: (db: Db) => Promise<T>): Promise<T> {
  return fn(createDb(getConfig(env)));
}

let nextId = Math.floor(Math.random() * 1e6) * 1000 + 1_000_000_000;
/** A Telegram id no other test uses (test files share one database). */
export function uniqueTelegramId(): number {
  return nextId++;
}
