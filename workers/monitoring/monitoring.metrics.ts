import { sql } from 'drizzle-orm';
import { type Collector, metricRows } from '../core/prometheus';

export const monitoringMetrics: Collector = async ({ db }) => {
  const [nodes, services] = await Promise.all([
    metricRows<{ name: string; status: string }>(db, sql`select name, status from node_health`),
    metricRows<{ service: string; down: boolean }>(db, sql`select service, down from service_health`),
  ]);
  return [
    {
      name: 'flarecast_node_up',
      help: '1 when the node is online, by node and status.',
      type: 'gauge',
      samples: nodes.map((n) => ({ labels: { node: n.name, status: n.status }, value: n.status === 'online' ? 1 : 0 })),
    },
    {
      name: 'flarecast_service_up',
      help: '0 while a checked service is reported down.',
      type: 'gauge',
      samples: services.map((s) => ({ labels: { service: s.service }, value: s.down ? 0 : 1 })),
    },
  ];
};
