import { createRoute, z } from '@hono/zod-openapi';
import { Hono } from 'hono';
import { missingCapabilities } from '../core/capabilities';
import { AppError, DomainError } from '../core/errors';
import { type AppEnv, createRouter } from '../core/http';
import { errorSchema, errors, json } from '../core/openapi';
import { kick } from '../tasks/kick';
import type { TaskRegistry } from '../tasks/task';
import { getRun } from '../tasks/tasks.repo';
import { exportArgs } from './exports.tasks';
import { linkValid } from './signing';

const createBody = exportArgs.omit({ base_url: true });

const exportSchema = z
  .object({
    export_id: z.uuid(),
    status: z.enum(['queued', 'running', 'completed', 'failed']),
    rows: z.number().int(),
    bytes: z.number().int().nullable(),
    url: z.string().nullable(),
  })
  .openapi('Export');

const routes = {
  create: createRoute({
    method: 'post',
    path: '/exports',
    summary: 'Export users, payments, servers or audit rows of a date range to R2 as CSV or JSON',
    security: [{ Bearer: [] }],
    request: { body: { content: { 'application/json': { schema: createBody } }, required: true } },
    responses: {
      202: json(z.object({ export_id: z.uuid() }), 'Queued'),
      ...errors,
      503: json(errorSchema, 'A servers export while the panel is not set up'),
    },
  }),
  get: createRoute({
    method: 'get',
    path: '/exports/{export_id}',
    summary: 'An export: its status, and its signed download link when done',
    security: [{ Bearer: [] }],
    request: { params: z.object({ export_id: z.uuid() }) },
    responses: { 200: json(exportSchema, 'The export'), ...errors, 404: json(errorSchema, 'No such export') },
  }),
};

/** `/api/exports`: exports as task runs of `export_data`. */
export function exportRoutes(registry: TaskRegistry) {
  return createRouter()
    .openapi(routes.create, async (c) => {
      const { db, config, log } = c.var;
      const body = c.req.valid('json');
      if (Date.parse(body.from) >= Date.parse(body.to)) throw AppError.badRequest('to', 'must be after from');
      // The servers come from the panel: with it off, the run would fail and alert a panel outage.
      if (body.type === 'servers' && missingCapabilities(config, ['panel']).length)
        throw new DomainError('unavailable', 'panel_not_configured', 'the panel is not set up here (REMNAWAVE_URL is empty)');
      const args = { ...body, base_url: new URL(c.req.url).origin };
      const run = await kick({ db, queue: c.env.TASKS_QUEUE, registry, config, log }, { name: 'export_data', args });
      return c.json({ export_id: run.id }, 202);
    })
    .openapi(routes.get, async (c) => {
      const run = await getRun(c.var.db, c.req.valid('param').export_id);
      if (run?.name !== 'export_data') throw new AppError(404, 'not_found', 'no such export');
      const result = (run.status === 'succeeded' ? run.result : null) as { rows: number; bytes: number; url: string } | null;
      const status: z.infer<typeof exportSchema>['status'] =
        run.status === 'succeeded' ? 'completed' : run.status === 'queued' || run.status === 'running' ? run.status : 'failed';
      const done = (run.progress as { done?: number } | null)?.done ?? 0;
      return c.json({ export_id: run.id, status, rows: result?.rows ?? done, bytes: result?.bytes ?? null, url: result?.url ?? null }, 200);
    });
}

/**
 * `GET /exports/<key>?exp=&sig=`: the file, streamed from R2, for a link the Worker signed. A missing,
 * tampered or expired signature is 403; a file already deleted is 404.
 */
export function exportDownloadRoutes() {
  return new Hono<AppEnv>().get('/:name', async (c) => {
    const key = `exports/${c.req.param('name')}`;
    const check = await linkValid(c.var.config.ADMIN_API_TOKEN, key, c.req.query('exp'), c.req.query('sig'));
    if (!check.ok) throw new AppError(403, 'forbidden', check.reason);
    const object = await c.env.EXPORTS.get(key);
    if (!object) throw new AppError(404, 'not_found', 'the export is gone (files are kept 24 hours)');
    const headers = new Headers();
    object.writeHttpMetadata(headers);
    headers.set('content-length', String(object.size));
    headers.set('cache-control', 'private, no-store');
    return new Response(object.body, { headers });
  });
}
