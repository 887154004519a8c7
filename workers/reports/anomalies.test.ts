import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import type { AttemptRecord } from '../tasks/tasks.schema';
import { taskRunsTable } from '../tasks/tasks.schema';
import { admin } from '../testing/admin-chat';
import { outboxDrained, textsSince } from '../testing/alerts';
import { withTestDb } from '../testing/db';
import { kickOverHttp, runWithStatus } from '../testing/runs';
import { deliveries } from '../testing/telegram';

// This file has a database of its own: the task error rate counts every run of the last 15 minutes,
// so here they are exactly the ones this file makes.

const detect = async () =>
  (await runWithStatus(await kickOverHttp('detect_anomalies'), 'succeeded')).result as Record<string, { value: number; active: boolean }>;

/** `count` runs of `sync_user_stats` that just ended: succeeded, or dead of `failure` (with its external cause, if any). */
const finishedRuns = (count: number, failure?: { error: string; error_type: string; cause?: string }) => {
  const now = new Date().toISOString();
  const history: AttemptRecord[] = failure ? [{ attempt: 1, started_at: now, finished_at: now, ...failure }] : [];
  return withTestDb((db) =>
    db.insert(taskRunsTable).values(
      Array.from({ length: count }, () => ({
        id: crypto.randomUUID(),
        name: 'sync_user_stats',
        args: {},
        status: failure ? ('dead' as const) : ('succeeded' as const),
        attempts: 1,
        maxAttempts: 1,
        correlationId: 'anomaly-test',
        error: failure?.error ?? null,
        history,
        startedAt: sql`now()`,
        finishedAt: sql`now()`,
        expiresAt: sql`now() + interval '1 day'`,
      })),
    ),
  );
};

describe('the task error rate', () => {
  it('alerts a WARNING once above 5 % of 20 or more runs, leaves out what an outage failed, and says when it is over', async () => {
    const before = (await deliveries(admin)).length;
    await finishedRuns(20);
    // Failures a panel outage caused are that outage's incident, not this rate's: 0 of 22.
    await finishedRuns(2, { error: 'remnawave is unavailable (circuit open)', error_type: 'CircuitOpenError', cause: 'outage:remnawave' });
    expect((await detect()).task_error_rate).toEqual({ value: 0, active: false });
    // Two failures of the task's own: 2 of 25, the first detection's run counted too.
    await finishedRuns(2, { error: "Cannot read properties of undefined (reading 'users')", error_type: 'TypeError' });
    expect((await detect()).task_error_rate).toEqual({ value: 0.08, active: true });
    // Still above: no second alert (2 of 26 now).
    expect((await detect()).task_error_rate).toEqual({ value: 2 / 26, active: true });
    // A quarter of an hour later those runs are out of the window: only the three detections remain.
    await withTestDb((db) =>
      db.execute(sql`update task_runs set finished_at = now() - interval '20 minutes', started_at = now() - interval '20 minutes'
        where correlation_id = 'anomaly-test'`),
    );
    expect((await detect()).task_error_rate).toEqual({ value: 0, active: false });
    await outboxDrained();
    const alerts = await textsSince(admin, before, 'task error rate');
    expect(alerts).toEqual([
      '⚠️ WARNING: anomaly: task error rate 8.0% over 15 min (2/25)',
      '✅ Resolved: task error rate 0.0% over 15 min (0/3)',
    ]);
  });
});
