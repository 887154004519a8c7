import type { Api } from 'grammy';
import type { z } from 'zod';
import type { Capability } from '../core/capabilities';
import type { Config } from '../core/config';
import type { Db } from '../core/db';
import type { Logger } from '../core/logger';

/**
 * How often a run is tried and how long to wait between tries. The seed's "max retries" is
 * `maxAttempts - 1` (retries after the first try); each retry waits its own step of `backoffSeconds`,
 * so a policy may list at most one step per retry (a step that can never be reached is refused).
 */
export interface RetryPolicy {
  /** Total tries including the first. Default 4 (3 retries) */
  maxAttempts: number;
  /** Seconds to wait before try 2, 3, …; the last value repeats (a fixed backoff lists one). Default [10, 30, 90] */
  backoffSeconds: readonly number[];
}

const defaultRetryPolicy: RetryPolicy = { maxAttempts: 4, backoffSeconds: [10, 30, 90] };

/**
 * What happens when a run has used up its tries (the seed's "dead letter action"): `alert` tells the
 * admins through the incident ledger (WARNING), `critical` does so as CRITICAL, `warn` only logs a
 * warning, `skip` logs at info (the next scheduled run comes).
 */
export type ExhaustionPolicy = 'alert' | 'critical' | 'warn' | 'skip';

/** Seconds to wait after failed try `attempt` (1-based) before the next one. */
export function backoffFor(policy: RetryPolicy, attempt: number): number {
  const delays = policy.backoffSeconds;
  return delays[Math.min(attempt - 1, delays.length - 1)] ?? 0;
}

/** A failure that retrying cannot fix (bad data, a refused operation): the run goes straight to `dead`. */
export class PermanentTaskError extends Error {
  override readonly name = 'PermanentTaskError';
}

export interface Progress {
  done: number;
  total?: number;
  note?: string;
}

/** Kicks other tasks from inside a task; the child inherits the correlation id. */
export type KickFn = (name: string, args: unknown, opts?: { idempotencyKey?: string }) => Promise<{ id: string }>;

/** What a handler receives: its checked arguments and the dependencies of this run. */
export interface TaskContext<Args> {
  args: Args;
  run: { id: string; name: string; attempt: number; maxAttempts: number; correlationId: string };
  /** A database handle made for this run. */
  db: Db;
  api: Api;
  config: Config;
  /** The Worker's bindings (queues, buckets, Durable Objects). */
  env: Env;
  log: Logger;
  /** Records progress on the run; writes are throttled to one per second. */
  progress(p: Progress): Promise<void>;
  kick: KickFn;
  /** Aborted when the run exceeds its timeout. */
  signal: AbortSignal;
}

export interface TaskDefinition<Schema extends z.ZodType = z.ZodType, Result = unknown> {
  name: string;
  args: Schema;
  retry: RetryPolicy;
  /** Seconds a try may take before it counts as failed. Default 60 */
  timeoutSeconds: number;
  /** Optional services the task needs; while one is off the task is not kicked by cron, and a run ends skipped. Default none */
  requires: readonly Capability[];
  /** When its tries are used up. Default `alert` */
  onExhausted: ExhaustionPolicy;
  handler(ctx: TaskContext<z.output<Schema>>): Promise<Result>;
}

/**
 * The longest a run may take: a queue consumer invocation ends after 15 minutes of wall time, and the
 * batch's claim before a run and the record of its outcome after it must fit in too. At 900 s a run
 * that used its time was killed with its batch: every outcome of the batch lost, the short runs
 * beside it run again.
 */
export const MAX_TIMEOUT_SECONDS = 720;

/** Declares a task. Arguments are checked with `args` when kicked and again when run. */
export function defineTask<Schema extends z.ZodType, Result>(def: {
  name: string;
  args: Schema;
  retry?: Partial<RetryPolicy>;
  timeoutSeconds?: number;
  requires?: readonly Capability[];
  onExhausted?: ExhaustionPolicy;
  handler: (ctx: TaskContext<z.output<Schema>>) => Promise<Result>;
}): TaskDefinition<Schema, Result> {
  if (!/^[a-z][a-z0-9_]*$/.test(def.name)) throw new Error(`task name ${def.name} must be snake_case`);
  const maxAttempts = def.retry?.maxAttempts ?? defaultRetryPolicy.maxAttempts;
  // Without its own backoff a policy takes as many default steps as it has retries.
  const backoffSeconds = def.retry?.backoffSeconds ?? defaultRetryPolicy.backoffSeconds.slice(0, Math.max(1, maxAttempts - 1));
  const retry: RetryPolicy = { maxAttempts, backoffSeconds };
  if (retry.maxAttempts < 1 || retry.backoffSeconds.length === 0)
    throw new Error(`task ${def.name}: retry policy needs maxAttempts >= 1 and a backoff`);
  if (retry.backoffSeconds.length > Math.max(1, retry.maxAttempts - 1))
    throw new Error(
      `task ${def.name}: ${retry.maxAttempts - 1} retries cannot reach ${retry.backoffSeconds.length} backoff steps (maxAttempts counts the first try too)`,
    );
  const timeoutSeconds = def.timeoutSeconds ?? 60;
  if (timeoutSeconds > MAX_TIMEOUT_SECONDS)
    throw new Error(
      `task ${def.name}: a timeout of ${timeoutSeconds} s leaves its consumer no time to record it (at most ${MAX_TIMEOUT_SECONDS} s)`,
    );
  return {
    name: def.name,
    args: def.args,
    retry,
    timeoutSeconds,
    requires: def.requires ?? [],
    onExhausted: def.onExhausted ?? 'alert',
    handler: def.handler,
  };
}

/** Retry policies of the seed's table (§10), by domain; tasks take theirs from here. */
export const seedPolicies = {
  /** 3 retries, 10 s → 30 s → 90 s. */
  sendNotification: { maxAttempts: 4, backoffSeconds: [10, 30, 90] },
  /** 3 retries, 60 s apart. */
  subscriptions: { maxAttempts: 4, backoffSeconds: [60] },
  /** 2 retries, 15 s apart. */
  healthCheck: { maxAttempts: 3, backoffSeconds: [15] },
  /** 3 retries, 30 s → 2 min → 10 min (verify and completion alike). */
  payments: { maxAttempts: 4, backoffSeconds: [30, 120, 600] },
  /** 1 retry, at once. */
  analytics: { maxAttempts: 2, backoffSeconds: [0] },
  /** 2 retries, 5 min apart. */
  cleanup: { maxAttempts: 3, backoffSeconds: [300] },
  /** 3 retries, 2 min apart. */
  sync: { maxAttempts: 4, backoffSeconds: [120] },
  /** 2 retries, 10 min apart. */
  reports: { maxAttempts: 3, backoffSeconds: [600] },
  /** No retry: the items are retried inside the run, and the failures are the report. */
  bulk: { maxAttempts: 1, backoffSeconds: [0] },
} as const satisfies Record<string, RetryPolicy>;

/** The set of tasks a deployment knows. */
export class TaskRegistry {
  readonly #tasks = new Map<string, TaskDefinition>();

  constructor(tasks: readonly TaskDefinition[] = []) {
    for (const task of tasks) this.register(task);
  }

  register(task: TaskDefinition): void {
    if (this.#tasks.has(task.name)) throw new Error(`task ${task.name} is defined twice`);
    this.#tasks.set(task.name, task);
  }

  get(name: string): TaskDefinition | undefined {
    return this.#tasks.get(name);
  }

  /** Every task name, sorted. */
  names(): string[] {
    return [...this.#tasks.keys()].sort();
  }
}
