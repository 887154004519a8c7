import { sql } from 'drizzle-orm';
import { type Collector, metricRows, QUEUE_BACKLOG } from '../core/prometheus';

export const notificationMetrics: Collector = async ({ db }) => {
  const [byStatus, backlog] = await Promise.all([
    // Not the whole table: a week of rows, one per user of every bulk send, scanned at every scrape.
    // Each part reads one partial index: what waits, and what was queued in the last hour.
    metricRows<{ type: string; status: string; n: number }>(
      db,
      sql`select type, status, count(*)::int as n from notification_queue where status = 'pending' group by 1, 2
          union all
          select type, status, count(*)::int as n from notification_queue
           where status <> 'pending' and created_at > now() - interval '1 hour' group by 1, 2`,
    ),
    metricRows<{ n: number }>(
      db,
      sql`select count(*)::int as n from notification_queue where status = 'pending' and scheduled_at <= now()`,
    ),
  ]);
  return [
    {
      name: 'flarecast_notifications',
      help: 'Notifications waiting (pending), and those queued in the last hour, by type and status.',
      type: 'gauge',
      samples: byStatus.map((n) => ({ labels: { type: n.type, status: n.status }, value: n.n })),
    },
    { ...QUEUE_BACKLOG, samples: [{ labels: { queue: 'notifications' }, value: backlog[0]?.n ?? 0 }] },
  ];
};
