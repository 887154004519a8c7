import { sql } from 'drizzle-orm';
import { botGate } from '../../durable-objects/gate/gate.do';
import { type Collector, metricRows } from '../core/prometheus';

/** The latest campaigns' counters (the row mirror) and the bot-wide gate's state. */
export const campaignMetrics: Collector = async ({ db, env }) => {
  const [campaigns, gate] = await Promise.all([
    metricRows<{
      id: string;
      title: string;
      status: string;
      total: number;
      sent: number;
      failed: number;
      blocked: number;
      unknown: number;
    }>(db, sql`select id::text, title, status, total, sent, failed, blocked, unknown from campaigns order by id desc limit 20`),
    botGate(env).stats(),
  ]);
  return [
    {
      name: 'flarecast_campaign_recipients',
      help: 'Recipients of the 20 latest campaigns by outcome (the row mirror, refreshed every 3 s while one runs).',
      type: 'gauge',
      samples: campaigns.flatMap((c) =>
        (['total', 'sent', 'failed', 'blocked', 'unknown'] as const).map((k) => ({
          labels: { campaign: c.id, status: c.status, counter: k },
          value: c[k],
        })),
      ),
    },
    {
      name: 'flarecast_gate_blocked_seconds',
      help: 'Seconds left of the bot-wide wait after a Telegram 429 (0: sending).',
      type: 'gauge',
      samples: [{ value: Math.max(0, (gate.blockedUntil - Date.now()) / 1000) }],
    },
    {
      name: 'flarecast_gate_slots_granted_total',
      help: 'Send slots the bot-wide gate granted (since its object started).',
      type: 'counter',
      samples: [{ value: gate.granted }],
    },
    {
      name: 'flarecast_gate_429_total',
      help: '429s from Telegram reported to the gate (since its object started).',
      type: 'counter',
      samples: [{ value: gate.reports }],
    },
    {
      name: 'flarecast_gate_pace_ratio',
      help: 'The pace of the bot-wide gate as a share of each Telegram limit (cut by a 429, climbing back while quiet).',
      type: 'gauge',
      samples: [
        { labels: { limit: 'ordinary' }, value: gate.pace },
        { labels: { limit: 'paid' }, value: gate.paidPace },
      ],
    },
    {
      name: 'flarecast_gate_last_429_timestamp_seconds',
      help: 'When the last flood wait began (unix seconds; 0: none since the gate object started).',
      type: 'gauge',
      samples: [{ value: gate.lastFloodAt === null ? 0 : gate.lastFloodAt / 1000 }],
    },
  ];
};
