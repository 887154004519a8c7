import { campaignMetrics } from '../campaigns/campaigns.metrics';
import type { Db } from '../core/db';
import type { Family } from '../core/prometheus';
import { monitoringMetrics } from '../monitoring/monitoring.metrics';
import { notificationMetrics } from '../notifications/notifications.metrics';
import { paymentMetrics } from '../payments/payments.metrics';
import { taskMetrics } from '../tasks/tasks.metrics';

/** Each capability contributes its own collector; all of them read their stores at scrape time. */
const COLLECTORS = [taskMetrics, notificationMetrics, monitoringMetrics, paymentMetrics, campaignMetrics];

export async function collect(scrape: { db: Db; env: Env }): Promise<Family[]> {
  return (await Promise.all(COLLECTORS.map((collector) => collector(scrape)))).flat();
}
