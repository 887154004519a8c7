import { createRoute, z } from '@hono/zod-openapi';
import { sql } from 'drizzle-orm';
import { capabilities, capabilityTable } from '../core/capabilities';
import { createRouter } from '../core/http';
import { errorMessage } from '../core/logger';

const reasons = ['database unreachable', 'database did not answer in time'] as const;
const healthSchema = z
  .object({
    ok: z.boolean(),
    db: z.enum(['up', 'down']),
    reason: z.enum(reasons).optional(),
    /** Each optional capability and whether it is configured. */
    capabilities: z.record(z.string(), z.boolean()),
    /** The capabilities that are off, each with the variable that turns it on. */
    off: z.array(z.object({ capability: z.string(), variable: z.string(), what: z.string() })),
  })
  .openapi('Health');

const route = createRoute({
  method: 'get',
  path: '/health',
  summary: 'Liveness and database reachability',
  responses: {
    200: { content: { 'application/json': { schema: healthSchema } }, description: 'Postgres answers' },
    503: { content: { 'application/json': { schema: healthSchema } }, description: 'Postgres does not answer' },
  },
});

class DbTimeout extends Error {
  override readonly name = 'DbTimeout';
}

/** How long /health waits for Postgres before calling it down. */
const DB_TIMEOUT_MS = 3_000;

/**
 * `GET /health`: 200 when Postgres answers `select 1` within 3 s, else 503 with one of two fixed
 * reasons. It is public: the driver's own error (host, port, what the proxy said) goes to the log only.
 * Both say which optional capabilities are off (their jobs are skipped, not failing).
 */
export function healthRoutes() {
  return createRouter().openapi(route, async (c) => {
    const on = capabilities(c.var.config);
    const off = Object.entries(capabilityTable)
      .filter(([name]) => !on[name as keyof typeof on])
      .map(([capability, t]) => ({ capability, variable: t.variable, what: t.what }));
    const parts = { capabilities: on, off };
    try {
      await Promise.race([
        c.var.db.execute(sql`select 1`),
        new Promise((_, reject) => setTimeout(() => reject(new DbTimeout(`no answer within ${DB_TIMEOUT_MS} ms`)), DB_TIMEOUT_MS)),
      ]);
      return c.json({ ok: true, db: 'up' as const, ...parts }, 200);
    } catch (err) {
      c.var.log.warn('health_db_down', { error: errorMessage(err) });
      const reason = err instanceof DbTimeout ? 'database did not answer in time' : 'database unreachable';
      return c.json({ ok: false, db: 'down' as const, reason, ...parts }, 503);
    }
  });
}
