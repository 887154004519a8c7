import { env } from 'cloudflare:workers';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { bandwidthHourlyTable } from '../analytics/analytics.schema';
import { nodeHealthHistoryTable, nodeHealthTable, serviceLatencyTable } from '../monitoring/monitoring.schema';
import { paymentsTable } from '../payments/payments.schema';
import { cachePut } from '../sync/sync.cache';
import { withTestDb } from '../testing/db';
import { poll } from '../testing/poll';
import { kickOverHttp, runWithStatus } from '../testing/runs';
import { deliveries } from '../testing/telegram';
import { usersTable } from '../users/users.schema';

const admin = Number(env.ADMIN_TELEGRAM_IDS.split(',')[0]);
const run = async (task: string, args: object = {}) =>
  (await runWithStatus(await kickOverHttp(task, args), 'succeeded')).result as Record<string, unknown>;

describe('reports', () => {
  it('sends a daily report with users, churn, revenue, uptime, bandwidth and incidents', async () => {
    const day = '2019-06-10';
    const at = (hh: string) => new Date(`${day}T${hh}:00:00Z`);
    const node = crypto.randomUUID();
    await withTestDb(async (db) => {
      await db.insert(usersTable).values([
        { telegramId: 7_800_000_001, fullName: 'R1', createdAt: at('01') },
        { telegramId: 7_800_000_002, fullName: 'R2', createdAt: at('02'), isActive: false, blockedAt: at('05') },
      ]);
      await db.insert(paymentsTable).values({
        invoiceId: 1_900_000_001,
        remnawaveUserId: 1,
        plan: 'month',
        days: 30,
        amount: '5',
        asset: 'USDT',
        status: 'completed',
        completedAt: at('03'),
      });
      await db.insert(nodeHealthTable).values({ nodeUuid: node, name: 'report-node', status: 'online' });
      // Online all day but 6 hours offline: 75 %.
      await db.insert(nodeHealthHistoryTable).values([
        { nodeUuid: node, fromStatus: null, toStatus: 'online', source: 'poll', at: at('00') },
        { nodeUuid: node, fromStatus: 'online', toStatus: 'offline', source: 'poll', at: at('06') },
        { nodeUuid: node, fromStatus: 'offline', toStatus: 'online', source: 'poll', at: at('12') },
      ]);
      await db
        .insert(bandwidthHourlyTable)
        .values({ nodeUuid: node, hour: at('04'), sumBytes: 3 * 1024 ** 3, avgBytes: 1, maxBytes: 1, minBytes: 1, samples: 12 });
    });
    // The panel's statistics as sync_user_stats caches them.
    await withTestDb((db) => cachePut(db, 'panel:stats', { users: { statusCounts: { ACTIVE: 42, EXPIRED: 3 }, totalUsers: 45 } }, 900));
    const before = (await deliveries(admin)).length;
    const figures = await run('daily_report', { day });
    expect(figures).toMatchObject({
      new_users: 2,
      churned_users: 1,
      active_users: 42,
      revenue: { USDT: 5 },
      revenue_by_plan: { month: { count: 1, revenue: { USDT: 5 } } },
      revenue_by_method: { cryptobot: { count: 1, revenue: { USDT: 5 } } },
      payments: 1,
      incidents: 1,
    });
    expect(figures.uptime).toContainEqual({ node: 'report-node', percent: 75 });
    expect(figures.bandwidth_top).toContainEqual({ node: 'report-node', bytes: 3 * 1024 ** 3 });
    const text = await poll(async () => (await deliveries(admin)).slice(before).find((d) => d.text?.startsWith('📊 Daily report'))?.text);
    expect(text).toContain('Daily report 2019-06-10 – 2019-06-10');
    expect(text).toContain('report-node: 75%');
    expect(text).toContain('report-node: 3.00 GiB');
    expect(text).toContain('Active users: 42');
    expect(text).toContain('  • plan month: 5 USDT (1)');
    expect(text).toContain('  • via cryptobot: 5 USDT (1)');
    // The daily report is the short one: no weekly sections.
    expect(text).not.toContain('Recommendations');
  });

  it('adds trends against the previous week to the weekly report: users, revenue amounts, problem nodes, panel latency, recommendations', async () => {
    const at = (iso: string) => new Date(`2018-03-${iso}Z`);
    const node = crypto.randomUUID();
    await withTestDb(async (db) => {
      await db.insert(usersTable).values([
        { telegramId: 7_810_000_001, fullName: 'W1', createdAt: at('05T10:00:00') },
        { telegramId: 7_810_000_002, fullName: 'W2', createdAt: at('12T10:00:00') },
        { telegramId: 7_810_000_003, fullName: 'W3', createdAt: at('13T10:00:00') },
      ]);
      const payment = (i: number, amount: string, completedAt: Date) => ({
        invoiceId: 1_910_000_000 + i,
        remnawaveUserId: 1,
        plan: 'week-test',
        days: 30,
        amount,
        asset: 'USDT',
        status: 'completed' as const,
        completedAt,
      });
      // 100 USDT the week before, 50 this week: the amount fell by half although the count did not.
      await db.insert(paymentsTable).values([payment(1, '100', at('06T10:00:00')), payment(2, '50', at('14T10:00:00'))]);
      await db.insert(nodeHealthTable).values({ nodeUuid: node, name: 'flappy-node', status: 'online' });
      await db.insert(nodeHealthHistoryTable).values(
        ['12T00', '13T00', '13T01', '14T00', '14T01', '15T00', '15T01'].map((h, i) => ({
          nodeUuid: node,
          fromStatus: i === 0 ? null : i % 2 ? 'online' : 'offline',
          toStatus: i % 2 ? 'offline' : 'online',
          source: 'poll',
          at: at(`${h}:00:00`),
        })),
      );
      await db.insert(serviceLatencyTable).values([
        { service: 'remnawave', day: '2018-03-13', checks: 10, totalMs: 15_000, maxMs: 3_000 },
        { service: 'remnawave', day: '2018-03-14', checks: 10, totalMs: 5_000, maxMs: 900 },
      ]);
    });
    const before = (await deliveries(admin)).length;
    const result = await run('weekly_report', { until: '2018-03-19' });
    expect(result).toMatchObject({
      figures: {
        new_users: 2,
        revenue: { USDT: 50 },
        problem_nodes: [{ node: 'flappy-node', incidents: 3 }],
        panel_latency_ms: { avg: 1000, max: 3000, checks: 20 },
      },
      previous: { new_users: 1, revenue: { USDT: 100 }, panel_latency_ms: null },
    });
    const text = await poll(async () => (await deliveries(admin)).slice(before).find((d) => d.text?.startsWith('📊 Weekly report'))?.text);
    expect(text).toContain('New users: 2 (+100% vs last week)');
    expect(text).toContain('Revenue: 50 USDT (-50% vs last week) from 1 payments (+0% vs last week)');
    expect(text).toContain('Problem nodes\n• flappy-node: offline 3×');
    expect(text).toContain('⏱ Panel API: avg 1000 ms, max 3000 ms over 20 checks');
    const advice = text.slice(text.indexOf('Recommendations'));
    expect(advice).toContain('• Node flappy-node was up ');
    expect(advice).toContain('• Node flappy-node went offline 3 times: it flaps.');
    expect(advice).toContain('• Revenue in USDT fell 50%: check payments and renewals.');
    expect(advice).not.toContain('The panel answered');
  });
});

describe('reports on their schedule', () => {
  it('reports yesterday and the last week when no date is given', async () => {
    expect(await run('daily_report')).toHaveProperty('new_users');
    expect(await run('weekly_report')).toMatchObject({ figures: { payments: expect.any(Number) }, previous: expect.any(Object) });
  });
});

describe('anomalies', () => {
  it('alerts once when the backlog passes 500, and once when it is resolved', async () => {
    const tag = crypto.randomUUID();
    await withTestDb((db) =>
      db.execute(sql`insert into notification_queue (telegram_id, type, text, scheduled_at, dedupe_key)
        select 7900000000 + g, 'anomaly-test', 'x', now() + interval '1 hour', ${tag} || g from generate_series(1, 501) g`),
    );
    // Overdue by more than a minute, and not due for the senders (their claim would need scheduled_at <= now()).
    await withTestDb((db) =>
      db.execute(
        sql`update notification_queue set scheduled_at = now() - interval '2 minutes', claimed_until = now() + interval '1 hour' where dedupe_key like ${`${tag}%`}`,
      ),
    );
    const before = (await deliveries(admin)).length;
    expect(await run('detect_anomalies')).toMatchObject({ queue_backlog: { active: true } });
    await run('detect_anomalies');
    await withTestDb((db) => db.execute(sql`delete from notification_queue where dedupe_key like ${`${tag}%`}`));
    expect(await run('detect_anomalies')).toMatchObject({ queue_backlog: { active: false } });
    const alerts = await poll(async () => {
      const a = (await deliveries(admin))
        .slice(before)
        .filter((d) => d.text?.includes('queue backlog'))
        .map((d) => d.text);
      return a.length === 2 ? a : undefined;
    });
    expect(alerts[0]).toMatch(/^⚠️ WARNING: anomaly: queue backlog/);
    expect(alerts[1]).toContain('Resolved');
  });
});
