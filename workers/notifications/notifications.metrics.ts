import { sql } from 'drizzle-orm';
import { type Collector, metricRows, QUEUE_BACKLOG } from '../core/prometheus';

export const notificationMetrics: Collector = async ({ db }) => {
  const [byStatus, backlog] = await Promise.all([
    metricRows<{ type: string; status: string; n: number }>(
      db,
      sql`select type, status, count(*)::int as n from notification_queue group by 1, 2`,
    ),
    metricRows<{ n: number }>(
      db,
      sql`select count(*)::int as n from notification_queue where status = 'pending' and scheduled_at <= now()`,
    ),
  ]);
  return [
    {
      name: 'flarecast_notifications',
      help: 'Notifications by type and status.',
      type: 'gauge',
      samples: byStatus.map((n) => ({ labels: { type: n.type, status: n.status }, value: n.n })),
    },
    { ...QUEUE_BACKLOG, samples: [{ labels: { queue: 'notifications' }, value: backlog[0]?.n ?? 0 }] },
  ];
};
