import { sql } from 'drizzle-orm';
import { type Collector, metricRows } from '../core/prometheus';

export const paymentMetrics: Collector = async ({ db }) => {
  const payments = await metricRows<{ status: string; n: number }>(db, sql`select status, count(*)::int as n from payments group by 1`);
  return [
    {
      name: 'flarecast_payments',
      help: 'Payments by status.',
      type: 'gauge',
      samples: payments.map((p) => ({ labels: { status: p.status }, value: p.n })),
    },
  ];
};
