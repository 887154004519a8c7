import { dashboardRoutes } from './analytics/dashboard.routes';
import { webhookRoutes } from './bot/webhook.routes';
import { bulkRoutes } from './bulk/bulk.routes';
import { campaignRoutes } from './campaigns/campaigns.routes';
import { consoleRoutes } from './console/console.routes';
import { errorHandler } from './core/errors';
import { createRouter, limitBody, requestContext, requireAdminToken } from './core/http';
import { exportDownloadRoutes, exportRoutes } from './exports/exports.routes';
import { healthRoutes } from './health/health.routes';
import { reportIncident } from './incidents/incidents';
import { metricsRoutes } from './metrics/metrics.routes';
import { notificationRoutes } from './notifications/notifications.routes';
import { paymentRoutes, paymentWebhookRoutes } from './payments/payments.routes';
import { panelWebhookRoutes } from './subscriptions/panel-webhook.routes';
import type { TaskRegistry } from './tasks/task';
import { taskRoutes } from './tasks/tasks.routes';

const KiB = 1024;
const MiB = 1024 * KiB;

/**
 * Largest body of an admin API route, in bytes, read only after the bearer token is checked. 1 MiB
 * holds any single task (its arguments must pack into a 60 KB queue message), notification, payment
 * or export request; the routes below take lists.
 */
const API_BODY_MAX_BYTES = 1 * MiB;
/** Routes that take lists, and more. */
export const apiBodyLimits: Record<string, number> = {
  // Up to 50 variants of 4,096 characters, each JSON-escaped to at most 6 bytes a character.
  'POST /api/campaigns': 2 * MiB,
  // Up to 100,000 user ids of up to 16 digits.
  'POST /api/bulk/users': 2 * MiB,
  // Up to 1,000 tasks, an average of 8 KiB of arguments each.
  'POST /api/tasks/bulk': 8 * MiB,
};
const apiLimit = limitBody(API_BODY_MAX_BYTES);
const apiRouteLimits = new Map(Object.entries(apiBodyLimits).map(([route, max]) => [route, limitBody(max)]));

/** The HTTP surface: health, the Telegram webhook, the bearer-protected admin API and the web console. */
export function createApp(deps: { registry: TaskRegistry }) {
  const api = createRouter();
  api.use('*', requireAdminToken());
  api.use('*', (c, next) => (apiRouteLimits.get(`${c.req.method} ${c.req.path}`) ?? apiLimit)(c, next));
  api.route('/', taskRoutes(deps.registry));
  api.route('/', campaignRoutes());
  api.route('/', notificationRoutes(deps.registry));
  api.route('/', paymentRoutes());
  api.route('/', bulkRoutes(deps.registry));
  api.route('/', exportRoutes(deps.registry));
  api.route('/', dashboardRoutes());
  api.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: { title: 'Flarecast admin API', version: '0.1.0' },
  });
  api.openAPIRegistry.registerComponent('securitySchemes', 'Bearer', { type: 'http', scheme: 'bearer' });

  const app = createRouter();
  app.onError(errorHandler(reportIncident));
  app.notFound((c) => c.json({ error: 'not_found', message: `no route for ${c.req.method} ${c.req.path}` }, 404));
  app.use('*', requestContext());
  app.route('/', healthRoutes());
  app.route('/telegram', webhookRoutes(deps.registry));
  app.route('/webhooks', paymentWebhookRoutes(deps.registry));
  app.route('/webhooks', panelWebhookRoutes(deps.registry));
  app.route('/exports', exportDownloadRoutes());
  app.route('/metrics', metricsRoutes());
  app.route('/api', api);
  app.route('/admin', consoleRoutes({ registry: deps.registry, fetch: (request, env, ctx) => app.fetch(request, env, ctx) }));
  return app;
}
