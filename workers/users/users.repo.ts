import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Db } from '../core/db';
import { usersTable } from './users.schema';

export async function findUser(db: Db, telegramId: number) {
  const [row] = await db.select().from(usersTable).where(eq(usersTable.telegramId, telegramId));
  return row;
}

/** Users who blocked the bot (403) become inactive, in one statement. */
export async function deactivateUsers(db: Db, telegramIds: number[]): Promise<void> {
  if (!telegramIds.length) return;
  await db
    .update(usersTable)
    .set({ isActive: false, blockedAt: sql`now()`, updatedAt: sql`now()` })
    .where(and(inArray(usersTable.telegramId, telegramIds), eq(usersTable.isActive, true)));
}
