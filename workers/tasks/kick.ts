import { v7 as uuidv7 } from 'uuid';
import type { z } from 'zod';
import type { Config } from '../core/config';
import type { Db } from '../core/db';
import { DomainError } from '../core/errors';
import { errorMessage, type Logger } from '../core/logger';
import { type Envelope, packMessages } from './envelope';
import type { KickFn, TaskRegistry } from './task';
import { deleteRuns, findByIdempotencyKeys, insertRuns, type NewRun } from './tasks.repo';
import type { TaskStatus } from './tasks.schema';

export interface KickRequest {
  name: string;
  args: unknown;
  idempotencyKey?: string;
  /** Seconds before the first try. Default 0 */
  delaySeconds?: number;
}

export interface Kicked {
  id: string;
  name: string;
  status: TaskStatus;
  /** True when the idempotency key named an existing run: nothing new was queued. */
  existing: boolean;
}

export interface ProducerDeps {
  db: Db;
  queue: Queue;
  registry: TaskRegistry;
  config: Pick<Config, 'RESULT_TTL_SECONDS'>;
  log: Logger;
}

/** Longest delay a queue message can carry. */
const MAX_DELAY_SECONDS = 12 * 60 * 60;

/**
 * Scopes of the idempotency keys the system makes itself: `payment:<invoice>` (a paid invoice is
 * completed once), `cron:<task>:<minute>`, `bot:ping:<update>`, `rekick:<dead run>`. Keys in them are
 * the system's alone: the admin API refuses them (400), so no caller can take a key first and have
 * the system's own kick refused or answered with someone else's run.
 */
const INTERNAL_KEY_SCOPES = ['payment', 'cron', 'bot', 'rekick'] as const;

/** Who is kicking: the system itself (the default), or a caller of the admin API. */
export type KickOrigin = 'internal' | 'api';

function keyScope(key: string): string | undefined {
  const scope = /^([^:]*):/.exec(key)?.[1];
  return scope !== undefined && (INTERNAL_KEY_SCOPES as readonly string[]).includes(scope) ? scope : undefined;
}

/**
 * Checks every request against its task's schema, stores the runs and enqueues them in as few queue
 * messages as possible (one `sendBatch` per 100 messages). All or nothing: one bad request rejects the
 * call with the field named (`tasks.3.args.chat_id`), and a failed enqueue removes the stored runs.
 */
export async function kickMany(
  deps: ProducerDeps,
  requests: KickRequest[],
  path: (i: number) => string = (i) => `tasks.${i}`,
  origin: KickOrigin = 'internal',
): Promise<Kicked[]> {
  const runs: (NewRun & { args: unknown })[] = requests.map((req, i) => {
    const task = deps.registry.get(req.name);
    if (!task) throw DomainError.invalid(field(path(i), 'name'), `unknown task "${req.name}"`);
    checkKeyScope(req.idempotencyKey, origin, field(path(i), 'idempotency_key'));
    const args = parseArgs(task.args, req.args, field(path(i), 'args'));
    const delaySeconds = req.delaySeconds ?? 0;
    if (delaySeconds < 0 || delaySeconds > MAX_DELAY_SECONDS)
      throw DomainError.invalid(field(path(i), 'delay_seconds'), `must be between 0 and ${MAX_DELAY_SECONDS}`);
    return {
      id: uuidv7(),
      name: task.name,
      args,
      maxAttempts: task.retry.maxAttempts,
      idempotencyKey: req.idempotencyKey ?? null,
      correlationId: deps.log.correlationId,
      ttlSeconds: deps.config.RESULT_TTL_SECONDS,
      delaySeconds,
    };
  });
  rejectRepeatedKeys(runs, path);

  const inserted = await insertRuns(deps.db, runs);
  const fresh = runs.filter((r) => inserted.has(r.id));
  // All or nothing: whatever goes wrong from here removes the runs this call stored.
  const undo = () =>
    deleteRuns(
      deps.db,
      fresh.map((r) => r.id),
    );
  let existing: Map<string, Kicked>;
  try {
    existing = await existingRuns(deps.db, runs, inserted, path);
  } catch (err) {
    await undo();
    throw err;
  }
  let messages = 0;
  try {
    messages = await enqueue(deps.queue, fresh);
  } catch (err) {
    await undo();
    deps.log.error('task_enqueue_failed', { tasks: fresh.length, error: errorMessage(err) });
    throw new DomainError('unavailable', 'queue_unavailable', 'the task queue did not accept the tasks; nothing was queued, retry later');
  }
  deps.log.info('tasks_kicked', { tasks: fresh.length, existing: existing.size, messages });
  return runs.map((r) => existing.get(r.idempotencyKey ?? '') ?? { id: r.id, name: r.name, status: 'queued', existing: false });
}

/** A `KickFn` for task handlers and bot features, bound to these producer dependencies. */
export function kicker(deps: ProducerDeps): KickFn {
  return (name, args, opts) => kick(deps, { name, args, idempotencyKey: opts?.idempotencyKey });
}

export async function kick(deps: ProducerDeps, request: KickRequest, origin: KickOrigin = 'internal'): Promise<Kicked> {
  const [kicked] = await kickMany(deps, [request], () => '', origin);
  if (!kicked) throw new Error('kickMany returned nothing');
  return kicked;
}

/** A run on its way to the queue; `attempt` is the try it is enqueued for (1 for a new run). */
export type QueuedRun = Pick<NewRun, 'id' | 'name' | 'args' | 'correlationId' | 'delaySeconds'> & { attempt?: number };

/** Sends envelopes to the queue, grouped so every message carries one delay. Returns the messages sent. */
export async function enqueue(queue: Queue, runs: QueuedRun[]): Promise<number> {
  const byDelay = Map.groupBy(runs, (r) => r.delaySeconds);
  let messages = 0;
  for (const [delaySeconds, group] of byDelay) {
    const envelopes: Envelope[] = group.map((r) => ({
      id: r.id,
      name: r.name,
      args: r.args,
      attempt: r.attempt ?? 1,
      correlation_id: r.correlationId,
      enqueued_at: Date.now(),
    }));
    const bodies = packMessages(envelopes);
    for (let i = 0; i < bodies.length; i += 100) {
      await queue.sendBatch(bodies.slice(i, i + 100).map((body) => ({ body, contentType: 'bytes' as const, delaySeconds })));
    }
    messages += bodies.length;
  }
  return messages;
}

function parseArgs(schema: z.ZodType, args: unknown, path: string): unknown {
  const parsed = schema.safeParse(args ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  throw DomainError.invalid(field(path, ...(issue?.path ?? []).map(String)), issue?.message ?? 'invalid');
}

/** An API key in an internal scope is refused; an internal key outside them is a bug, caught in tests. */
function checkKeyScope(key: string | undefined, origin: KickOrigin, path: string): void {
  if (key === undefined) return;
  const scope = keyScope(key);
  if (origin === 'api' && scope !== undefined) throw DomainError.invalid(path, `keys starting "${scope}:" are reserved for the system`);
  if (origin === 'internal' && scope === undefined)
    throw new Error(`internal idempotency key "${key}" is outside the reserved scopes (${INTERNAL_KEY_SCOPES.join(', ')})`);
}

function rejectRepeatedKeys(runs: NewRun[], path: (i: number) => string): void {
  const seen = new Set<string>();
  runs.forEach((r, i) => {
    if (r.idempotencyKey === null) return;
    if (seen.has(r.idempotencyKey))
      throw DomainError.invalid(field(path(i), 'idempotency_key'), 'repeats a key of an earlier task in this call');
    seen.add(r.idempotencyKey);
  });
}

/** Runs whose idempotency key already existed, keyed by that key; a key reused for another task is a conflict. */
async function existingRuns(db: Db, runs: NewRun[], inserted: Set<string>, path: (i: number) => string): Promise<Map<string, Kicked>> {
  const skipped = runs.filter((r) => !inserted.has(r.id));
  const found = await findByIdempotencyKeys(
    db,
    skipped.map((r) => r.idempotencyKey ?? ''),
  );
  const byKey = new Map(found.map((f) => [f.idempotencyKey ?? '', f]));
  const out = new Map<string, Kicked>();
  for (const run of skipped) {
    const hit = byKey.get(run.idempotencyKey ?? '');
    const key = field(path(runs.indexOf(run)), 'idempotency_key');
    if (!hit) throw new DomainError('conflict', 'idempotency_conflict', `${key}: the run holding this key was just removed; retry`);
    if (hit.name !== run.name) throw new DomainError('conflict', 'idempotency_conflict', `${key}: already used for task "${hit.name}"`);
    out.set(hit.idempotencyKey ?? '', { id: hit.id, name: hit.name, status: hit.status, existing: true });
  }
  return out;
}

/** Joins a field path, skipping empty parts: field('', 'args', 'x') is 'args.x'. */
function field(...parts: string[]): string {
  return parts.filter(Boolean).join('.');
}
