import { eq, sql } from 'drizzle-orm';
import type { Db } from '../core/db';
import { type AdminSession, adminSessionsTable } from './admin-sessions.schema';

export async function findSession(db: Db, telegramId: number): Promise<AdminSession | undefined> {
  const [row] = await db.select().from(adminSessionsTable).where(eq(adminSessionsTable.telegramId, telegramId));
  return row;
}

/** The admin now works on `campaignId`; their next post becomes its `awaitingLanguage` variant when set. */
export async function saveSession(db: Db, telegramId: number, campaignId: string, awaitingLanguage: string | null): Promise<void> {
  const values = { campaignId, awaitingLanguage, updatedAt: sql`now()` };
  await db
    .insert(adminSessionsTable)
    .values({ telegramId, ...values })
    .onConflictDoUpdate({ target: adminSessionsTable.telegramId, set: values });
}
