import { sql } from 'drizzle-orm';
import { bigint, check, index, integer, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';

export const taskStatuses = ['queued', 'running', 'succeeded', 'failed', 'dead'] as const;
export type TaskStatus = (typeof taskStatuses)[number];

/** One attempt of a run, appended to `history`. */
export interface AttemptRecord {
  attempt: number;
  started_at: string;
  finished_at: string;
  error?: string;
  /** What kind of failure: the error's class (`TypeError`, `GrammyError`, `TaskTimeoutError`, …) or `invalid_args`, `unknown_task`, `lease_expired`. */
  error_type?: string;
  /** The external cause, when there is one: `outage:<service>` or `service:<service>|<code>`. */
  cause?: string;
}

/**
 * The result store: one row per task run.
 * queued → running → succeeded | failed (retry scheduled at next_attempt_at) → running … → dead.
 */
export const taskRunsTable = pgTable(
  'task_runs',
  {
    id: uuid('id').primaryKey(),
    name: text('name').notNull(),
    args: jsonb('args').notNull(),
    status: text('status', { enum: taskStatuses }).notNull().default('queued'),
    attempts: integer('attempts').notNull().default(0),
    maxAttempts: integer('max_attempts').notNull(),
    idempotencyKey: text('idempotency_key'),
    correlationId: text('correlation_id').notNull(),
    result: jsonb('result'),
    error: text('error'),
    progress: jsonb('progress'),
    history: jsonb('history').$type<AttemptRecord[]>().notNull().default(sql`'[]'::jsonb`),
    nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true }).notNull().defaultNow(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    startedAt: timestamp('started_at', { withTimezone: true }),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
    expiresAt: timestamp('expires_at', { withTimezone: true }).notNull(),
  },
  (t) => [
    uniqueIndex('task_runs_idempotency_key_idx').on(t.idempotencyKey),
    index('task_runs_status_idx').on(t.status, t.id),
    index('task_runs_name_idx').on(t.name, t.id),
    index('task_runs_expires_at_idx').on(t.expiresAt),
    check('task_runs_status_check', sql`${t.status} in ('queued', 'running', 'succeeded', 'failed', 'dead')`),
  ],
);

export type TaskRun = typeof taskRunsTable.$inferSelect;

/** Queue messages the consumer could not decode, kept for inspection. */
export const deadLettersTable = pgTable('dead_letters', {
  id: uuid('id').primaryKey().default(sql`gen_random_uuid()`),
  queue: text('queue').notNull(),
  reason: text('reason').notNull(),
  body: text('body').notNull(),
  receivedAt: timestamp('received_at', { withTimezone: true }).notNull().defaultNow(),
});

/**
 * Lifetime outcome counters per task, updated in the statement that records each outcome, so they
 * never decrease when finished runs expire (`flarecast_tasks_*_total`, usable with `rate()`).
 * `counter` is `received` (runs stored), `succeeded`, `failed` (failed tries, the last one of a dead
 * run included), `retried` (failed tries followed by a retry), `dead`, or `error:<type>` (failed tries
 * by error type).
 */
export const taskCountersTable = pgTable(
  'task_counters',
  {
    name: text('name').notNull(),
    counter: text('counter').notNull(),
    value: bigint('value', { mode: 'number' }).notNull().default(0),
  },
  (t) => [primaryKey({ columns: [t.name, t.counter] })],
);
