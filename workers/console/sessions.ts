import { and, eq, gt, lt } from 'drizzle-orm';
import { z } from 'zod';
import { deleteInBatches } from '../cleanup/cleanup.tasks';
import type { Db } from '../core/db';
import { sha256Hex } from '../core/secrets';
import { defineTask, seedPolicies } from '../tasks/task';
import { type ConsoleSession, consoleSessionsTable } from './console.schema';

/** A console sign-in lasts 12 hours; then the admin signs in again. */
export const SESSION_TTL_SECONDS = 12 * 3600;

/** 32 random bytes, base64url: the cookie's token and each session's CSRF token. */
export function randomToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return btoa(String.fromCharCode(...bytes))
    .replaceAll('+', '-')
    .replaceAll('/', '_')
    .replace(/=+$/, '');
}

/** Names the admin token a session was opened with, without storing anything it could be found from. */
async function adminTokenTag(adminToken: string): Promise<string> {
  return (await sha256Hex(`flarecast-console-session:${adminToken}`)).slice(0, 16);
}

/** Opens a session; returns the cookie token (never stored) and the session's CSRF token. */
export async function openSession(db: Db, adminToken: string, now = new Date()): Promise<{ token: string; csrf: string }> {
  const token = randomToken();
  const csrf = randomToken();
  await db.insert(consoleSessionsTable).values({
    tokenHash: await sha256Hex(token),
    csrfToken: csrf,
    adminTokenTag: await adminTokenTag(adminToken),
    createdAt: now,
    expiresAt: new Date(now.getTime() + SESSION_TTL_SECONDS * 1000),
  });
  return { token, csrf };
}

/**
 * The live session of a cookie token, if any: an expired one, or one opened with an admin token that
 * has since been rotated, counts as none.
 */
export async function findSession(db: Db, token: string, adminToken: string): Promise<ConsoleSession | undefined> {
  const t = consoleSessionsTable;
  const [row] = await db
    .select()
    .from(t)
    .where(and(eq(t.tokenHash, await sha256Hex(token)), gt(t.expiresAt, new Date()), eq(t.adminTokenTag, await adminTokenTag(adminToken))));
  return row;
}

export async function closeSession(db: Db, token: string): Promise<void> {
  await db.delete(consoleSessionsTable).where(eq(consoleSessionsTable.tokenHash, await sha256Hex(token)));
}

/** Hourly: console sessions past their expiry are deleted. */
export const cleanupConsoleSessionsTask = defineTask({
  name: 'cleanup_console_sessions',
  args: z.object({}).strict(),
  retry: seedPolicies.cleanup,
  onExhausted: 'warn',
  timeoutSeconds: 300,
  handler: async ({ db, log }) => {
    const removed = await deleteInBatches(db, consoleSessionsTable, lt(consoleSessionsTable.expiresAt, new Date()));
    log.info('cleanup_done', { table: 'console_sessions', removed });
    return { removed };
  },
});
