import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { AppError } from '../core/errors';
import { type AppEnv, createRouter } from '../core/http';
import { errorSchema, errors, json } from '../core/openapi';
import { kick, kickMany, type ProducerDeps } from './kick';
import type { TaskRegistry } from './task';
import { getRun, listRuns } from './tasks.repo';
import { type TaskRun, taskStatuses } from './tasks.schema';

const kickBody = z.object({
  name: z.string().min(1).openapi({ example: 'ping_db' }),
  args: z.record(z.string(), z.unknown()).default({}).openapi({ example: {} }),
  idempotency_key: z.string().min(1).max(200).optional().openapi({
    description: 'Runs the task once per key. Keys starting `payment:`, `cron:`, `bot:` or `rekick:` are reserved for the system.',
  }),
  delay_seconds: z.number().int().min(0).optional(),
});

const queuedRun = z.object({ id: z.uuid(), status: z.enum(taskStatuses) }).openapi('QueuedRun');

const runSchema = z
  .object({
    id: z.uuid(),
    name: z.string(),
    status: z.enum(taskStatuses),
    attempts: z.number().int(),
    max_attempts: z.number().int(),
    result: z.unknown(),
    error: z.string().nullable(),
    progress: z.unknown(),
    history: z.array(
      z.object({
        attempt: z.number(),
        started_at: z.string(),
        finished_at: z.string(),
        error: z.string().optional(),
        error_type: z.string().optional(),
      }),
    ),
    correlation_id: z.string(),
    created_at: z.string(),
    started_at: z.string().nullable(),
    finished_at: z.string().nullable(),
    next_attempt_at: z.string(),
    expires_at: z.string(),
  })
  .openapi('TaskRun');

/** A task run as `/api/tasks` answers it. */
export type RunJson = z.infer<typeof runSchema>;

const kickRoute = createRoute({
  method: 'post',
  path: '/tasks',
  summary: 'Kick a task',
  security: [{ Bearer: [] }],
  request: { body: { content: { 'application/json': { schema: kickBody } }, required: true } },
  responses: {
    202: json(queuedRun, 'Queued (or the existing run of the idempotency key)'),
    ...errors,
    409: json(errorSchema, 'Idempotency key used by another task'),
  },
});

const bulkRoute = createRoute({
  method: 'post',
  path: '/tasks/bulk',
  summary: 'Kick up to 1,000 tasks in one call',
  security: [{ Bearer: [] }],
  request: {
    body: { content: { 'application/json': { schema: z.object({ tasks: z.array(kickBody).min(1).max(1000) }) } }, required: true },
  },
  responses: {
    202: json(z.object({ runs: z.array(queuedRun) }), 'Queued'),
    ...errors,
    409: json(errorSchema, 'Idempotency key used by another task'),
  },
});

const getRoute = createRoute({
  method: 'get',
  path: '/tasks/{id}',
  summary: 'One run',
  security: [{ Bearer: [] }],
  request: { params: z.object({ id: z.uuid() }) },
  responses: { 200: json(runSchema, 'The run'), ...errors, 404: json(errorSchema, 'No such run') },
});

const listRoute = createRoute({
  method: 'get',
  path: '/tasks',
  summary: 'Runs, newest first',
  security: [{ Bearer: [] }],
  request: {
    query: z.object({
      status: z.enum(taskStatuses).optional(),
      name: z.string().min(1).optional(),
      cursor: z.uuid().optional(),
      limit: z.coerce.number().int().min(1).max(200).default(50),
    }),
  },
  responses: { 200: json(z.object({ runs: z.array(runSchema), next_cursor: z.uuid().nullable() }), 'A page of runs'), ...errors },
});

/** `/api/tasks`: kick tasks and read their runs. */
export function taskRoutes(registry: TaskRegistry) {
  const producer = (c: Context<AppEnv>): ProducerDeps => ({
    db: c.var.db,
    queue: c.env.TASKS_QUEUE,
    registry,
    config: c.var.config,
    log: c.var.log,
  });
  return createRouter()
    .openapi(kickRoute, async (c) => {
      const body = c.req.valid('json');
      const run = await kick(
        producer(c),
        { name: body.name, args: body.args, idempotencyKey: body.idempotency_key, delaySeconds: body.delay_seconds },
        'api',
      );
      return c.json({ id: run.id, status: run.status }, 202);
    })
    .openapi(bulkRoute, async (c) => {
      const { tasks } = c.req.valid('json');
      const runs = await kickMany(
        producer(c),
        tasks.map((t) => ({ name: t.name, args: t.args, idempotencyKey: t.idempotency_key, delaySeconds: t.delay_seconds })),
        undefined,
        'api',
      );
      return c.json({ runs: runs.map((r) => ({ id: r.id, status: r.status })) }, 202);
    })
    .openapi(getRoute, async (c) => {
      const run = await getRun(c.var.db, c.req.valid('param').id);
      if (!run) throw new AppError(404, 'not_found', 'no such task run');
      return c.json(toJson(run), 200);
    })
    .openapi(listRoute, async (c) => {
      const q = c.req.valid('query');
      const runs = await listRuns(c.var.db, q);
      const last = runs.length === q.limit ? runs.at(-1) : undefined;
      return c.json({ runs: runs.map(toJson), next_cursor: last?.id ?? null }, 200);
    });
}

function toJson(run: TaskRun): z.infer<typeof runSchema> {
  return {
    id: run.id,
    name: run.name,
    status: run.status,
    attempts: run.attempts,
    max_attempts: run.maxAttempts,
    result: run.result,
    error: run.error,
    progress: run.progress,
    history: run.history,
    correlation_id: run.correlationId,
    created_at: run.createdAt.toISOString(),
    started_at: run.startedAt?.toISOString() ?? null,
    finished_at: run.finishedAt?.toISOString() ?? null,
    next_attempt_at: run.nextAttemptAt.toISOString(),
    expires_at: run.expiresAt.toISOString(),
  };
}
