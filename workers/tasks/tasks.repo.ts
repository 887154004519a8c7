import { and, desc, eq, inArray, lt, type SQL, sql } from 'drizzle-orm';
import type { Db } from '../core/db';
import type { Progress } from './task';
import { type TaskRun, type TaskStatus, taskRunsTable } from './tasks.schema';

export interface NewRun {
  id: string;
  name: string;
  args: unknown;
  maxAttempts: number;
  idempotencyKey: string | null;
  correlationId: string;
  ttlSeconds: number;
  /** Seconds before the first try may start. */
  delaySeconds: number;
}

/**
 * Inserts runs; a run whose idempotency key already exists is skipped. Counts the runs stored in
 * `task_counters` in the same statement. Returns the ids inserted.
 */
export async function insertRuns(db: Db, runs: NewRun[]): Promise<Set<string>> {
  if (runs.length === 0) return new Set();
  const rows = runs.map((r) => ({
    id: r.id,
    name: r.name,
    args: r.args ?? {},
    max_attempts: r.maxAttempts,
    idempotency_key: r.idempotencyKey,
    correlation_id: r.correlationId,
    delay: r.delaySeconds,
    ttl: r.ttlSeconds,
  }));
  const result = await db.execute<{ id: string }>(sql`
    with ins as (
      insert into task_runs (id, name, args, max_attempts, idempotency_key, correlation_id, next_attempt_at, expires_at)
      select r.id, r.name, r.args, r.max_attempts, r.idempotency_key, r.correlation_id,
             now() + make_interval(secs => r.delay), now() + make_interval(secs => r.ttl)
        from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
             as r(id uuid, name text, args jsonb, max_attempts int, idempotency_key text, correlation_id text, delay int, ttl int)
      on conflict (idempotency_key) do nothing
      returning id, name),
    counted as (${countOutcomes(sql`select name, 'received' as counter from ins`)})
    select id from ins`);
  return new Set(result.rows.map((r) => r.id));
}

/**
 * An insert that adds `(name, counter)` rows to the lifetime counters. Rows are taken in key order
 * so two statements counting the same tasks lock the counter rows in the same order (no deadlock).
 */
function countOutcomes(rows: SQL): SQL {
  return sql`
    insert into task_counters (name, counter, value)
    select name, counter, count(*) from (${rows}) c group by name, counter order by name, counter
    on conflict (name, counter) do update set value = task_counters.value + excluded.value`;
}

export async function findByIdempotencyKeys(db: Db, keys: string[]): Promise<Pick<TaskRun, 'id' | 'name' | 'status' | 'idempotencyKey'>[]> {
  if (keys.length === 0) return [];
  return db
    .select({ id: taskRunsTable.id, name: taskRunsTable.name, status: taskRunsTable.status, idempotencyKey: taskRunsTable.idempotencyKey })
    .from(taskRunsTable)
    .where(inArray(taskRunsTable.idempotencyKey, keys));
}

export async function deleteRuns(db: Db, ids: string[]): Promise<void> {
  if (ids.length) await db.delete(taskRunsTable).where(inArray(taskRunsTable.id, ids));
}

export interface ClaimedRun {
  id: string;
  name: string;
  attempts: number;
  max_attempts: number;
  correlation_id: string;
  /** The run's arguments, read from its row only when its envelope came without them (`args_in_row`). */
  args?: unknown;
}

/**
 * Marks due runs `running` and counts the try. While a run is running, `next_attempt_at` is its lease
 * deadline: a consumer that died mid-run leaves a lease that expires, and the run becomes claimable
 * again. Runs that are finished, not yet due, or leased to a live consumer are left alone. A retry is
 * due a second early: the queue's delay and the database's clock are not the same clock.
 */
export async function claimRuns(db: Db, leases: { id: string; lease: number; with_args?: boolean }[]): Promise<ClaimedRun[]> {
  if (leases.length === 0) return [];
  const result = await db.execute<ClaimedRun & Record<string, unknown>>(sql`
    update task_runs t
       set status = 'running', attempts = t.attempts + 1, started_at = now(),
           next_attempt_at = now() + make_interval(secs => l.lease)
      from jsonb_to_recordset(${JSON.stringify(leases)}::jsonb) as l(id uuid, lease int, with_args boolean)
     where t.id = l.id
       and ((t.status in ('queued', 'failed') and t.next_attempt_at <= now() + interval '1 second')
            or (t.status = 'running' and t.next_attempt_at <= now()))
    returning t.id, t.name, t.attempts, t.max_attempts, t.correlation_id, case when l.with_args then t.args end as args`);
  return result.rows;
}

export interface WaitingRun {
  id: string;
  status: TaskStatus;
  /** Seconds until the run may be tried (or its lease ends); 0 when due. */
  wait_seconds: number;
}

/** Where runs that could not be claimed stand, to decide whether their message is done or must wait. */
export async function waitingRuns(db: Db, ids: string[]): Promise<WaitingRun[]> {
  if (ids.length === 0) return [];
  const result = await db.execute<WaitingRun & Record<string, unknown>>(sql`
    select id, status, greatest(0, ceil(extract(epoch from next_attempt_at - now())))::int as wait_seconds
      from task_runs
     where id in (select jsonb_array_elements_text(${JSON.stringify(ids)}::jsonb)::uuid)`);
  return result.rows;
}

export interface Outcome {
  id: string;
  /** The try this outcome belongs to; a stale finisher of a reclaimed run changes nothing. */
  attempt: number;
  status: 'succeeded' | 'failed' | 'dead';
  result?: unknown;
  error?: string;
  /** The kind of failure, kept in the try's history entry (`flarecast_task_errors{task,type}`). */
  errorType?: string;
  /** An external service's outage or refusal that caused the failure (`outage:remnawave`), kept in the history entry. */
  cause?: string;
  /** Seconds until the next try (status `failed`). */
  retryInSeconds?: number;
  ttlSeconds: number;
}

export interface FinishedRun {
  id: string;
  name: string;
  status: TaskStatus;
  attempts: number;
  error: string | null;
}

/**
 * Records the outcome of each try in one statement: appends it to the run's history and adds it to
 * the lifetime counters (only for the tries this call actually finished).
 */
export async function finishRuns(db: Db, outcomes: Outcome[]): Promise<FinishedRun[]> {
  if (outcomes.length === 0) return [];
  const rows = outcomes.map((o) => ({
    id: o.id,
    attempt: o.attempt,
    status: o.status,
    result: o.result === undefined ? null : o.result,
    error: o.error ?? null,
    error_type: o.error === undefined ? null : (o.errorType ?? 'Error'),
    cause: o.cause ?? null,
    delay: o.retryInSeconds ?? 0,
    ttl: o.ttlSeconds,
  }));
  const result = await db.execute<FinishedRun & Record<string, unknown>>(sql`
    with done as (
      update task_runs t
         set status = r.status, result = r.result, error = r.error,
             finished_at = case when r.status = 'failed' then null else now() end,
             next_attempt_at = now() + make_interval(secs => r.delay),
             expires_at = now() + make_interval(secs => r.ttl),
             history = t.history || jsonb_build_array(jsonb_strip_nulls(jsonb_build_object(
               'attempt', t.attempts, 'started_at', t.started_at, 'finished_at', now(), 'error', r.error,
               'error_type', r.error_type, 'cause', r.cause)))
        from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb)
             as r(id uuid, attempt int, status text, result jsonb, error text, error_type text, cause text, delay int, ttl int)
       where t.id = r.id and t.status = 'running' and t.attempts = r.attempt
      returning t.id, t.name, t.status, t.attempts, t.error, r.error_type),
    counted as (${countOutcomes(sql`
      select name, status as counter from done
      union all select name, 'failed' from done where error_type is not null
      union all select name, 'retried' from done where status = 'failed'
      union all select name, 'error:' || error_type from done where error_type is not null`)})
    select id, name, status, attempts, error from done`);
  return result.rows;
}

/** Ends runs that can never be tried again (their message was dead-lettered), counted as dead. Returns the runs it ended. */
export async function markDead(db: Db, ids: string[], error: string, ttlSeconds: number): Promise<FinishedRun[]> {
  if (ids.length === 0) return [];
  const result = await db.execute<FinishedRun & Record<string, unknown>>(sql`
    with done as (
      update task_runs set status = 'dead', error = ${error}, finished_at = now(), expires_at = now() + make_interval(secs => ${ttlSeconds})
       where id in (select jsonb_array_elements_text(${JSON.stringify(ids)}::jsonb)::uuid)
         and status in ('queued', 'failed', 'running')
      returning id, name, status, attempts, error),
    counted as (${countOutcomes(sql`select name, 'dead' as counter from done`)})
    select id, name, status, attempts, error from done`);
  return result.rows;
}

export async function setProgress(db: Db, id: string, progress: Progress): Promise<void> {
  await db
    .update(taskRunsTable)
    .set({ progress })
    .where(and(eq(taskRunsTable.id, id), eq(taskRunsTable.status, 'running')));
}

export async function getRun(db: Db, id: string): Promise<TaskRun | undefined> {
  const [row] = await db.select().from(taskRunsTable).where(eq(taskRunsTable.id, id));
  return row;
}

/** Newest first; `cursor` is the id of the last run of the previous page (ids are time-ordered UUIDv7). */
export async function listRuns(db: Db, q: { status?: TaskStatus; name?: string; cursor?: string; limit: number }): Promise<TaskRun[]> {
  return db
    .select()
    .from(taskRunsTable)
    .where(
      and(
        q.status ? eq(taskRunsTable.status, q.status) : undefined,
        q.name ? eq(taskRunsTable.name, q.name) : undefined,
        q.cursor ? lt(taskRunsTable.id, q.cursor) : undefined,
      ),
    )
    .orderBy(desc(taskRunsTable.id))
    .limit(q.limit);
}

/** Deletes up to `batch` finished runs past `expires_at`; returns how many. */
export async function deleteExpiredRuns(db: Db, batch: number): Promise<number> {
  const result = await db.execute(sql`
    delete from task_runs where id in (
      select id from task_runs where expires_at < now() and status in ('succeeded', 'dead') limit ${batch})`);
  return result.rowCount ?? 0;
}

/** Runs that should have started long ago but never did: their queue message was lost. */
export async function staleRuns(
  db: Db,
  olderThanSeconds: number,
  limit: number,
): Promise<Pick<TaskRun, 'id' | 'name' | 'args' | 'attempts' | 'correlationId'>[]> {
  return db
    .select({
      id: taskRunsTable.id,
      name: taskRunsTable.name,
      args: taskRunsTable.args,
      attempts: taskRunsTable.attempts,
      correlationId: taskRunsTable.correlationId,
    })
    .from(taskRunsTable)
    .where(
      and(
        inArray(taskRunsTable.status, ['queued', 'failed', 'running']),
        lt(taskRunsTable.nextAttemptAt, sql`now() - make_interval(secs => ${olderThanSeconds})`),
      ),
    )
    .orderBy(taskRunsTable.nextAttemptAt)
    .limit(limit);
}
