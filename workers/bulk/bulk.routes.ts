import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { AppError } from '../core/errors';
import { type AppEnv, createRouter, progressEvents } from '../core/http';
import { errorSchema, errors, json } from '../core/openapi';
import { kick } from '../tasks/kick';
import type { TaskRegistry } from '../tasks/task';
import { getRun } from '../tasks/tasks.repo';
import type { TaskRun } from '../tasks/tasks.schema';
import { type BulkProgress, bulkArgs, bulkOperations } from './bulk.tasks';

const jobSchema = z
  .object({
    job_id: z.uuid(),
    operation: z.enum(bulkOperations),
    status: z.enum(['queued', 'running', 'completed', 'failed']),
    total: z.number().int(),
    processed: z.number().int(),
    failed: z.number().int(),
    failures: z.array(z.object({ id: z.number().int(), reason: z.string() })),
    created_at: z.string(),
    finished_at: z.string().nullable(),
  })
  .openapi('BulkJob');

const jobParam = z.object({ job_id: z.uuid() });

const routes = {
  create: createRoute({
    method: 'post',
    path: '/bulk/users',
    summary: 'Disable, enable, reset the traffic of, or delete panel users in bulk',
    security: [{ Bearer: [] }],
    request: { body: { content: { 'application/json': { schema: bulkArgs } }, required: true } },
    responses: { 202: json(z.object({ job_id: z.uuid() }), 'Queued'), ...errors },
  }),
  get: createRoute({
    method: 'get',
    path: '/bulk/{job_id}',
    summary: 'A bulk job: progress, failures with reasons',
    security: [{ Bearer: [] }],
    request: { params: jobParam },
    responses: { 200: json(jobSchema, 'The job'), ...errors, 404: json(errorSchema, 'No such job') },
  }),
  events: createRoute({
    method: 'get',
    path: '/bulk/{job_id}/events',
    summary: 'Server-sent events: `progress` (the job JSON) every second, `done` at the end',
    security: [{ Bearer: [] }],
    request: { params: jobParam },
    responses: { 200: { content: { 'text/event-stream': { schema: z.string() } }, description: 'The event stream' }, ...errors },
  }),
};

function jobJson(run: TaskRun): z.infer<typeof jobSchema> {
  const p = ((run.status === 'succeeded' ? run.result : run.progress) ?? {}) as Partial<BulkProgress>;
  const args = run.args as { operation: (typeof bulkOperations)[number]; user_ids: number[] };
  const status =
    run.status === 'succeeded' ? 'completed' : run.status === 'queued' ? 'queued' : run.status === 'running' ? 'running' : 'failed';
  return {
    job_id: run.id,
    operation: args.operation,
    status,
    total: p.total ?? new Set(args.user_ids).size,
    processed: p.processed ?? 0,
    failed: p.failed ?? 0,
    failures: p.failures ?? [],
    created_at: run.createdAt.toISOString(),
    finished_at: run.finishedAt?.toISOString() ?? null,
  };
}

async function job(c: Context<AppEnv>, id: string) {
  const run = await getRun(c.var.db, id);
  if (run?.name !== 'bulk_user_operation') throw new AppError(404, 'not_found', 'no such bulk job');
  return jobJson(run as TaskRun);
}

/** `/api/bulk`: bulk operations on panel users, as task runs of `bulk_user_operation`. */
export function bulkRoutes(registry: TaskRegistry) {
  return createRouter()
    .openapi(routes.create, async (c) => {
      const { db, config, log } = c.var;
      const run = await kick(
        { db, queue: c.env.TASKS_QUEUE, registry, config, log },
        { name: 'bulk_user_operation', args: c.req.valid('json') },
      );
      return c.json({ job_id: run.id }, 202);
    })
    .openapi(routes.get, async (c) => c.json(await job(c, c.req.valid('param').job_id), 200))
    .openapi(routes.events, async (c) => {
      const id = c.req.valid('param').job_id;
      const first = await job(c, id);
      return progressEvents(
        c,
        first,
        () => job(c, id),
        (current) => current.status === 'completed' || current.status === 'failed',
      ) as never;
    });
}
