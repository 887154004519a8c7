import type { Api } from 'grammy';
import type { z } from 'zod';
import type { Config } from '../core/config';
import type { Db } from '../core/db';
import type { Logger } from '../core/logger';

/** How often a run is tried and how long to wait between tries. */
export interface RetryPolicy {
  /** Total tries including the first. Default 3 */
  maxAttempts: number;
  /** Seconds to wait before try 2, 3, …; the last value repeats. Default [10, 30, 90] */
  backoffSeconds: readonly number[];
}

export const defaultRetryPolicy: RetryPolicy = { maxAttempts: 3, backoffSeconds: [10, 30, 90] };

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
  handler(ctx: TaskContext<z.output<Schema>>): Promise<Result>;
}

/** Declares a task. Arguments are checked with `args` when kicked and again when run. */
export function defineTask<Schema extends z.ZodType, Result>(def: {
  name: string;
  args: Schema;
  retry?: Partial<RetryPolicy>;
  timeoutSeconds?: number;
  handler: (ctx: TaskContext<z.output<Schema>>) => Promise<Result>;
}): TaskDefinition<Schema, Result> {
  if (!/^[a-z][a-z0-9_]*$/.test(def.name)) throw new Error(`task name ${def.name} must be snake_case`);
  const retry = { ...defaultRetryPolicy, ...def.retry };
  if (retry.maxAttempts < 1 || retry.backoffSeconds.length === 0)
    throw new Error(`task ${def.name}: retry policy needs maxAttempts >= 1 and a backoff`);
  return { name: def.name, args: def.args, retry, timeoutSeconds: def.timeoutSeconds ?? 60, handler: def.handler };
}

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
