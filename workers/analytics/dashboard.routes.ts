import { createRoute, z } from '@hono/zod-openapi';
import { dashboard } from '../../durable-objects/dashboard/dashboard.do';
import { createRouter } from '../core/http';

const dashboardSchema = z
  .object({
    at: z.string(),
    online_users: z.number().int(),
    bandwidth_bytes_5m: z.number(),
    active_servers: z.number().int(),
    servers: z.number().int(),
    last_events: z.array(z.object({ node: z.string(), from: z.string().nullable(), to: z.string(), at: z.string() })),
    errors: z.array(z.string()).optional(),
  })
  .openapi('Dashboard');

const route = createRoute({
  method: 'get',
  path: '/dashboard',
  summary: 'The realtime snapshot, refreshed every 30 s: online users, bandwidth, active servers, last 5 events',
  security: [{ Bearer: [] }],
  responses: { 200: { content: { 'application/json': { schema: dashboardSchema } }, description: 'The snapshot' } },
});

/** `GET /api/dashboard`. */
export function dashboardRoutes() {
  return createRouter().openapi(route, async (c) => c.json(await dashboard(c.env).snapshot(), 200));
}
