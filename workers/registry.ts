import { analyticsTasks } from './analytics/analytics.tasks';
import { keepDashboardTask } from './analytics/dashboard.tasks';
import { cleanupTelegramUpdatesTask } from './bot/bot.tasks';
import { bulkUserOperationTask } from './bulk/bulk.tasks';
import { cleanupTasks } from './cleanup/cleanup.tasks';
import { cleanupConsoleSessionsTask } from './console/sessions';
import { exportTasks } from './exports/exports.tasks';
import { monitoringTasks } from './monitoring/monitoring.tasks';
import { notificationTasks } from './notifications/notifications.tasks';
import { paymentTasks } from './payments/payments.tasks';
import { reportTasks } from './reports/reports.tasks';
import { subscriptionTasks } from './subscriptions/subscriptions.tasks';
import { syncTasks } from './sync/sync.tasks';
import { TaskRegistry } from './tasks/task';
import { builtinTasks } from './tasks/tasks.tasks';

/** Every task this deployment can run. */
export const taskRegistry = new TaskRegistry([
  ...builtinTasks,
  cleanupTelegramUpdatesTask,
  ...notificationTasks,
  ...paymentTasks,
  ...subscriptionTasks,
  ...monitoringTasks,
  ...cleanupTasks,
  cleanupConsoleSessionsTask,
  bulkUserOperationTask,
  ...exportTasks,
  ...analyticsTasks,
  keepDashboardTask,
  ...syncTasks,
  ...reportTasks,
]);
