import { dashboardRoutes } from './analytics/dashboard.routes';
import { webhookRoutes } from './bot/webhook.routes';
import { bulkRoutes } from './bulk/bulk.routes';
import { campaignRoutes } from './campaigns/campaigns.routes';
import { consoleRoutes } from './console/console.routes';
import { onError } from './core/errors';
import { createRouter, requestContext, requireAdminToken } from './core/http';
import { exportDownloadRoutes, exportRoutes } from './exports/exports.routes';
import { healthRoutes } from './health/health.routes';
import { metricsRoutes } from './metrics/metrics.routes';
import { notificationRoutes } from './notifications/notifications.routes';
import { paymentRoutes, paymentWebhookRoutes } from './payments/payments.routes';
import { panelWebhookRoutes } from './subscriptions/panel-webhook.routes';
import type { TaskRegistry } from './tasks/task';
import { taskRoutes } from './tasks/tasks.routes';

/** The HTTP surface: health, the Telegram webhook, the bearer-protected admin API and the web console. */
export function createApp(deps: { registry: TaskRegistry }) {
  const api = createRouter();
  api.use('*', requireAdminToken());
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
  app.onError(onError);
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
