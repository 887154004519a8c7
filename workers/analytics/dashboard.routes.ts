import { createRoute, z } from '@hono/zod-openapi';
import { dashboard } from '../../durable-objects/dashboard/dashboard.do';
import { createRouter, progressEvents } from '../core/http';

const dashboardSchema = z
  .object({
    at: z.string(),
    online_users: z.number().int(),
    bandwidth_bytes_5m: z.number(),
    active_servers: z.number().int(),
    servers: z.number().int(),
    last_events: z.array(z.object({ node: z.string(), from: z.string().nullable(), to: z.string(), at: z.string() })),
    last_event: z.string().nullable(),
    users_by_status: z.record(z.string(), z.number()).nullable(),
    nodes: z.array(z.object({ uuid: z.string(), name: z.string(), address: z.string().nullable(), country_code: z.string().nullable() })),
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

const eventsRoute = createRoute({
  method: 'get',
  path: '/dashboard/events',
  summary: 'Server-sent events: `progress` (the snapshot) every second; a node status change shows at once',
  security: [{ Bearer: [] }],
  responses: { 200: { content: { 'text/event-stream': { schema: z.string() } }, description: 'The event stream' } },
});

/** `GET /api/dashboard` and its live stream. */
export function dashboardRoutes() {
  return createRouter()
    .openapi(route, async (c) => c.json(await dashboard(c.env).snapshot(), 200))
    .openapi(eventsRoute, async (c) => {
      const object = dashboard(c.env);
      return progressEvents(
        c,
        await object.snapshot(),
        () => object.snapshot(),
        () => false,
      ) as never;
    });
}
