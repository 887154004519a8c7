import type { Api } from 'grammy';
import { causeOf } from '../clients/cause';
import { missingCapabilities, variablesOf } from '../core/capabilities';
import type { Config } from '../core/config';
import { createDb } from '../core/db';
import { createLogger, errorMessage, type Logger } from '../core/logger';
import type { Envelope } from './envelope';
import { backoffFor, type KickFn, PermanentTaskError, type Progress, type TaskRegistry } from './task';
import type { ClaimedRun, Outcome } from './tasks.repo';

/** Dead runs stay this long for inspection, however short `RESULT_TTL_SECONDS` is. */
export const DEAD_RUN_TTL_SECONDS = 7 * 24 * 3600;

export interface RunnerDeps {
  registry: TaskRegistry;
  config: Config;
  env: Env;
  api: Api;
  kick: (correlationId: string) => KickFn;
  saveProgress: (id: string, p: Progress) => Promise<void>;
}

/** Runs one claimed try of a task and says what became of it. Never throws. */
export async function runTry(deps: RunnerDeps, claimed: ClaimedRun, envelope: Envelope): Promise<Outcome> {
  const { config } = deps;
  const log = createLogger(claimed.correlation_id, { task: claimed.name, run_id: claimed.id, attempt: claimed.attempts });
  const base = { id: claimed.id, attempt: claimed.attempts };
  const dead = (error: string, errorType: string): Outcome => ({
    ...base,
    status: 'dead',
    error,
    errorType,
    ttlSeconds: Math.max(config.RESULT_TTL_SECONDS, DEAD_RUN_TTL_SECONDS),
  });

  const task = deps.registry.get(claimed.name);
  if (!task) return dead(`unknown task "${claimed.name}"`, 'unknown_task');
  const off = missingCapabilities(config, task.requires);
  if (off.length) {
    // Kicked by hand (cron does not kick it) while a service it needs is off: nothing to do, nothing to alert.
    const reason = `not configured: ${variablesOf(off).join(', ')} empty`;
    log.info('task_skipped', { reason });
    return { ...base, status: 'succeeded', result: { skipped: true, reason }, ttlSeconds: config.RESULT_TTL_SECONDS };
  }
  // A try whose consumer died holds its lease until it expires; after the last allowed try, give up.
  if (claimed.attempts > claimed.max_attempts) return dead(`no try left: try ${claimed.max_attempts} never reported back`, 'lease_expired');
  const args = task.args.safeParse(envelope.args_in_row ? claimed.args : envelope.args);
  if (!args.success) {
    const issue = args.error.issues[0];
    return dead(`args.${issue?.path.join('.')}: ${issue?.message}`, 'invalid_args');
  }

  const timeout = new AbortController();
  const started = Date.now();
  try {
    const handlerRun = task.handler({
      args: args.data,
      run: {
        id: claimed.id,
        name: claimed.name,
        attempt: claimed.attempts,
        maxAttempts: claimed.max_attempts,
        correlationId: claimed.correlation_id,
      },
      db: createDb(config),
      api: deps.api,
      config,
      env: deps.env,
      log,
      signal: timeout.signal,
      kick: deps.kick(claimed.correlation_id),
      progress: savedProgress(deps, claimed.id, log),
    });
    const result = await withTimeout(handlerRun, task.timeoutSeconds * 1000, timeout);
    log.info('task_succeeded', { ms: Date.now() - started });
    return { ...base, status: 'succeeded', result: toJson(result), ttlSeconds: config.RESULT_TTL_SECONDS };
  } catch (err) {
    const error = errorMessage(err);
    const errorType = err instanceof Error ? err.name : typeof err;
    const cause = causeOf(err);
    if (err instanceof PermanentTaskError || claimed.attempts >= task.retry.maxAttempts) {
      log.error('task_dead', { error, error_type: errorType, cause, ms: Date.now() - started });
      return { ...dead(error, errorType), cause };
    }
    const retryInSeconds = backoffFor(task.retry, claimed.attempts);
    log.warn('task_failed', { error, error_type: errorType, cause, retry_in_s: retryInSeconds, ms: Date.now() - started });
    return { ...base, status: 'failed', error, errorType, cause, retryInSeconds, ttlSeconds: config.RESULT_TTL_SECONDS };
  }
}

/** A task's `progress`: saved at most once a second (and at the end); a failed save never fails the task. */
export function savedProgress(deps: Pick<RunnerDeps, 'saveProgress'>, runId: string, log: Logger): (p: Progress) => Promise<void> {
  let last = 0;
  return async (p) => {
    const now = Date.now();
    if (now - last < 1000 && p.done !== p.total) return;
    last = now;
    try {
      await deps.saveProgress(runId, p);
    } catch (err) {
      // Progress is for people watching; the work goes on without it (the seed's graceful degradation).
      log.warn('progress_not_saved', { error: errorMessage(err), done: p.done, total: p.total });
    }
  };
}

class TaskTimeoutError extends Error {
  override readonly name = 'TaskTimeoutError';
}

function withTimeout<T>(work: Promise<T>, ms: number, controller: AbortController): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      // Settle the race first: a handler that returns on abort must not count as a success.
      reject(new TaskTimeoutError(`timed out after ${ms / 1000} s`));
      controller.abort();
    }, ms);
  });
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}

/** Results are stored as jsonb: drop what JSON cannot hold (undefined, functions) up front. */
function toJson(value: unknown): unknown {
  if (value === undefined) return null;
  return JSON.parse(JSON.stringify(value));
}
