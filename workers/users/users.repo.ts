import { eq, sql } from 'drizzle-orm';
import type { Db } from '../core/db';
import { usersTable } from './users.schema';

export interface SeenUser {
  telegramId: number;
  username: string | null;
  fullName: string;
  languageCode: string | null;
}

/** Records that a user wrote to the bot: inserts them or refreshes their profile, and marks them active. */
export async function upsertSeenUser(db: Db, user: SeenUser): Promise<void> {
  await db
    .insert(usersTable)
    .values({ ...user, isActive: true })
    .onConflictDoUpdate({
      target: usersTable.telegramId,
      set: {
        username: sql`excluded.username`,
        fullName: sql`excluded.full_name`,
        languageCode: sql`coalesce(excluded.language_code, ${usersTable.languageCode})`,
        isActive: true,
        blockedAt: null,
        updatedAt: sql`now()`,
      },
    });
}

/** A private chat's block (`kicked`) or unblock (`member`) of the bot. */
export async function setUserBlocked(db: Db, telegramId: number, blocked: boolean): Promise<void> {
  await db
    .update(usersTable)
    .set({ isActive: !blocked, blockedAt: blocked ? sql`now()` : null, updatedAt: sql`now()` })
    .where(eq(usersTable.telegramId, telegramId));
}

export async function findUser(db: Db, telegramId: number) {
  const [row] = await db.select().from(usersTable).where(eq(usersTable.telegramId, telegramId));
  return row;
}
