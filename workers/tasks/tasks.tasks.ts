import { sql } from 'drizzle-orm';
import { z } from 'zod';
import { enqueue } from './kick';
import { defineTask, seedPolicies } from './task';
import { deleteExpiredRuns, staleRuns } from './tasks.repo';

/** Proves a task reaches Postgres through its injected handle: returns `SELECT version()`. */
const pingDbTask = defineTask({
  name: 'ping_db',
  args: z.object({}).strict(),
  retry: { maxAttempts: 3, backoffSeconds: [5, 15] },
  handler: async ({ db }) => {
    const result = await db.execute<{ version: string }>(sql`select version()`);
    return { version: result.rows[0]?.version ?? null };
  },
});

/** Returns its arguments: a probe of the whole pipeline (kick → queue → consumer → result store). */
const echoTask = defineTask({
  name: 'echo',
  args: z.record(z.string(), z.unknown()),
  retry: { maxAttempts: 1, backoffSeconds: [0] },
  handler: async ({ args }) => args,
});

/** Deletes finished runs past `expires_at`, 1,000 rows per statement. */
const cleanupTaskResultsTask = defineTask({
  name: 'cleanup_task_results',
  args: z.object({ batch: z.number().int().min(1).max(10_000).default(1000) }).strict(),
  retry: seedPolicies.cleanup,
  onExhausted: 'warn',
  handler: async ({ db, args, log }) => {
    let deleted = 0;
    for (;;) {
      const n = await deleteExpiredRuns(db, args.batch);
      deleted += n;
      if (n < args.batch) break;
    }
    log.info('task_results_cleaned', { deleted });
    return { deleted };
  },
});

/**
 * Safety net for a lost queue message (a kick whose enqueue outcome was unknown, a purged queue):
 * runs overdue by more than `older_than_seconds` are enqueued again. A duplicate is harmless: a run is
 * claimed by one consumer at a time and finished runs are skipped.
 */
const requeueStaleRunsTask = defineTask({
  name: 'requeue_stale_runs',
  args: z
    .object({ older_than_seconds: z.number().int().min(60).default(900), limit: z.number().int().min(1).max(10_000).default(1000) })
    .strict(),
  retry: seedPolicies.cleanup,
  onExhausted: 'warn',
  handler: async ({ db, args, log, env }) => {
    const stale = await staleRuns(db, args.older_than_seconds, args.limit);
    await enqueue(
      env.TASKS_QUEUE,
      stale.map((r) => ({ ...r, delaySeconds: 0, attempt: r.attempts + 1 })),
    );
    if (stale.length) log.warn('stale_runs_requeued', { runs: stale.length });
    return { requeued: stale.length };
  },
});

export const builtinTasks = [pingDbTask, echoTask, cleanupTaskResultsTask, requeueStaleRunsTask];
