import { createRoute, z } from '@hono/zod-openapi';
import { sql } from 'drizzle-orm';
import { createRouter } from '../core/http';
import { errorMessage } from '../core/logger';

const healthSchema = z.object({ ok: z.boolean(), db: z.enum(['up', 'down']), reason: z.string().optional() }).openapi('Health');

const route = createRoute({
  method: 'get',
  path: '/health',
  summary: 'Liveness and database reachability',
  responses: {
    200: { content: { 'application/json': { schema: healthSchema } }, description: 'Postgres answers' },
    503: { content: { 'application/json': { schema: healthSchema } }, description: 'Postgres does not answer' },
  },
});

/** How long /health waits for Postgres before calling it down. */
const DB_TIMEOUT_MS = 3_000;

/** `GET /health`: 200 when Postgres answers `select 1` within 3 s, else 503 with the reason. */
export function healthRoutes() {
  return createRouter().openapi(route, async (c) => {
    try {
      await Promise.race([
        c.var.db.execute(sql`select 1`),
        new Promise((_, reject) => setTimeout(() => reject(new Error(`no answer within ${DB_TIMEOUT_MS} ms`)), DB_TIMEOUT_MS)),
      ]);
      return c.json({ ok: true, db: 'up' as const }, 200);
    } catch (err) {
      c.var.log.warn('health_db_down', { error: errorMessage(err) });
      return c.json({ ok: false, db: 'down' as const, reason: errorMessage(err) }, 503);
    }
  });
}
