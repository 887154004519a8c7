import { eq } from 'drizzle-orm';
import type { Db } from '../core/db';
import { usersTable } from './users.schema';

export async function findUser(db: Db, telegramId: number) {
  const [row] = await db.select().from(usersTable).where(eq(usersTable.telegramId, telegramId));
  return row;
}
