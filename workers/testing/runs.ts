import { eq, type SQL, sql } from 'drizzle-orm';
import { type TaskRun, type TaskStatus, taskRunsTable } from '../tasks/tasks.schema';
import { withTestDb } from './db';
import { callApi, json } from './http';
import { poll } from './poll';

/** A run as stored, straight from the table. */
export function storedRun(id: string): Promise<TaskRun | undefined> {
  return withTestDb(async (db) => (await db.select().from(taskRunsTable).where(eq(taskRunsTable.id, id)))[0]);
}

/** Kicks a task over the admin API and returns its run id. */
export async function kickOverHttp(name: string, args: object = {}): Promise<string> {
  return (await json<{ id: string }>(await callApi('/tasks', { body: { name, args } }))).id;
}

/** Waits (polling, bounded) until the run has `status`. */
export function runWithStatus(id: string, status: TaskStatus, timeoutMs = 15_000): Promise<TaskRun> {
  return poll(
    async () => {
      const run = await storedRun(id);
      return run?.status === status ? run : undefined;
    },
    { timeoutMs, what: `run ${id} to be ${status}` },
  );
}

/** Inserts a run as if kicked, without sending its queue message. */
export async function insertRun(values: {
  name: string;
  args?: unknown;
  status?: TaskStatus;
  attempts?: number;
  maxAttempts?: number;
  expiresAt?: SQL;
  nextAttemptAt?: SQL;
}): Promise<string> {
  const id = crypto.randomUUID();
  await withTestDb((db) =>
    db
      .insert(taskRunsTable)
      .values({ id, args: {}, maxAttempts: 3, correlationId: 'test', expiresAt: sql`now() + interval '1 hour'`, ...values }),
  );
  return id;
}
