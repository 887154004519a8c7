import { missingCapabilities, variablesOf } from '../core/capabilities';
import { retrying } from '../core/concurrency';
import type { Config } from '../core/config';
import { createDb } from '../core/db';
import { createLogger, errorMessage } from '../core/logger';
import { kickMany } from '../tasks/kick';
import type { TaskRegistry } from '../tasks/task';
import { schedules } from './schedules';

/**
 * Kicks the tasks scheduled on `cron`. The idempotency key is the task and the scheduled minute, so a
 * trigger delivered twice kicks each task once. A task that needs a service that is not configured
 * is not kicked: one info line per run names them (no run, no failure, no alert).
 */
export async function runScheduled(
  deps: { config: Config; env: Env; registry: TaskRegistry },
  cron: string,
  scheduledTime: number,
): Promise<string[]> {
  const due = schedules.filter((s) => s.cron === cron);
  const log = createLogger(crypto.randomUUID(), { cron });
  if (due.length === 0) {
    log.warn('cron_without_schedule');
    return [];
  }
  const off = due.flatMap((s) => {
    const missing = missingCapabilities(deps.config, deps.registry.get(s.task)?.requires ?? []);
    return missing.length ? [{ task: s.task, missing: variablesOf(missing) }] : [];
  });
  if (off.length)
    log.info('cron_skipped_unconfigured', {
      tasks: off.map((o) => o.task),
      unset: [...new Set(off.flatMap((o) => o.missing))],
    });
  const runnable = due.filter((s) => !off.some((o) => o.task === s.task));
  if (runnable.length === 0) return [];
  const minute = new Date(Math.floor(scheduledTime / 60_000) * 60_000).toISOString();
  const tasks = runnable.map((s) => s.task);
  const kick = () =>
    kickMany(
      { db: createDb(deps.config), queue: deps.env.TASKS_QUEUE, registry: deps.registry, config: deps.config, log },
      runnable.map((s) => ({ name: s.task, args: s.args ?? {}, idempotencyKey: `cron:${s.task}:${minute}` })),
    );
  // A trigger is not delivered again: a kick that fails (Postgres or the queue for a moment) is tried
  // again here, the minute's keys making a repeat harmless; a monthly job missed is missed for a month.
  const kicked = await retrying(kick, KICK_RETRY_MS, (attempt, err) =>
    log.warn('cron_kick_retried', { tasks, attempt, error: errorMessage(err) }),
  ).catch((err: unknown) => {
    throw new Error(`cron ${cron} kicked none of ${tasks.join(', ')}: ${errorMessage(err)}`, { cause: err });
  });
  log.info('cron_kicked', { tasks });
  return kicked.map((k) => k.id);
}

/** Waits between tries of a trigger's kick, in ms (about 2 minutes in all: well within a trigger's wall time). */
const KICK_RETRY_MS = [1_000, 5_000, 20_000, 90_000];
