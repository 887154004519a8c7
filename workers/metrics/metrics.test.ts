import { env } from 'cloudflare:workers';
// @ts-expect-error: the parser ships without types
import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import { describe, expect, it } from 'vitest';
import alerts from '../../deploy/alerts.yml?raw';
import grafana from '../../deploy/grafana-dashboard.json?raw';
import { notificationQueueTable } from '../notifications/notifications.schema';
import { withTestDb } from '../testing/db';
import { call } from '../testing/http';
import { kickOverHttp, runWithStatus } from '../testing/runs';

interface MetricFamily {
  name: string;
  type: string;
  metrics: { labels?: Record<string, string>; value?: string; buckets?: Record<string, string>; count?: string }[];
}

const scrape = (token: string | null = env.METRICS_TOKEN) =>
  call('/metrics', { headers: token === null ? {} : { authorization: `Bearer ${token}` } });

describe('GET /metrics', () => {
  it('refuses a missing or wrong token', async () => {
    expect((await scrape(null)).status).toBe(401);
    expect((await scrape('wrong')).status).toBe(401);
  });

  it('serves every metric in the Prometheus text format, parseable, with task counts and durations', async () => {
    await runWithStatus(await kickOverHttp('echo', { hello: 'metrics' }), 'succeeded');
    const res = await scrape();
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/plain; version=0.0.4');
    const text = await res.text();
    const families = parsePrometheusTextFormat(text) as MetricFamily[];
    const names = families.map((f) => f.name);
    for (const name of [
      'flarecast_tasks_received_total',
      'flarecast_tasks_succeeded_total',
      'flarecast_tasks_failed_total',
      'flarecast_tasks_dead_total',
      'flarecast_tasks_retried_total',
      'flarecast_task_errors_total',
      'flarecast_task_runs',
      'flarecast_task_duration_seconds',
      'flarecast_queue_backlog',
      'flarecast_notifications',
      'flarecast_node_up',
      'flarecast_service_up',
      'flarecast_payments',
      'flarecast_campaign_recipients',
      'flarecast_gate_blocked_seconds',
      'flarecast_gate_slots_granted_total',
      'flarecast_gate_429_total',
    ])
      expect(names).toContain(name);
    // Each limit its own pace: 0.96 of the ordinary one, 0.97 of the paid one (no 429 in this file).
    const pace = families.find((f) => f.name === 'flarecast_gate_pace_ratio');
    expect(pace?.metrics.map((m) => [m.labels?.limit, Number(m.value)])).toEqual([
      ['ordinary', 0.96],
      ['paid', 0.97],
    ]);
    const succeeded = families.find((f) => f.name === 'flarecast_tasks_succeeded_total');
    expect(succeeded?.type).toBe('COUNTER');
    expect(Number(succeeded?.metrics.find((m) => m.labels?.task === 'echo')?.value)).toBeGreaterThanOrEqual(1);
    expect(families.find((f) => f.name === 'flarecast_task_duration_seconds')?.type).toBe('HISTOGRAM');
    // The parser keeps a histogram's buckets but not its other labels: read the echo series from the text.
    const count = Number(/^flarecast_task_duration_seconds_count\{task="echo"\} (\d+)$/m.exec(text)?.[1]);
    const inf = Number(/^flarecast_task_duration_seconds_bucket\{task="echo",le="\+Inf"\} (\d+)$/m.exec(text)?.[1]);
    expect(count).toBeGreaterThanOrEqual(1);
    expect(inf).toBe(count);
  });

  it('counts notifications waiting and those queued in the last hour, not the week the table keeps', async () => {
    const type = `metrics_${crypto.randomUUID().slice(0, 8)}`;
    await withTestDb((db) =>
      db.insert(notificationQueueTable).values([
        { telegramId: 1, type, text: 'waiting', status: 'pending', scheduledAt: new Date(Date.now() + 3_600_000) },
        { telegramId: 2, type, text: 'just sent', status: 'sent' },
        { telegramId: 3, type, text: 'sent days ago', status: 'sent', createdAt: new Date(Date.now() - 3 * 86_400_000) },
      ]),
    );
    const families = parsePrometheusTextFormat(await (await scrape()).text()) as MetricFamily[];
    const ours = families.find((f) => f.name === 'flarecast_notifications')?.metrics.filter((m) => m.labels?.type === type);
    expect(ours?.map((m) => [m.labels?.status, Number(m.value)]).sort()).toEqual([
      ['pending', 1],
      ['sent', 1],
    ]);
  });

  it('has every metric the Grafana dashboard and the alert rules use', async () => {
    const text = await (await scrape()).text();
    const served = new Set(
      (parsePrometheusTextFormat(text) as MetricFamily[]).flatMap((f) =>
        f.type === 'HISTOGRAM' ? [`${f.name}_bucket`, `${f.name}_sum`, `${f.name}_count`] : [f.name],
      ),
    );
    const used = new Set([...`${alerts}\n${grafana}`.matchAll(/\bflarecast_[a-z0-9_]+/g)].map((m) => m[0]));
    expect(used.size).toBeGreaterThan(8);
    for (const name of used) expect(served, name).toContain(name);
  });
});
