import { env } from 'cloudflare:workers';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { bandwidthHourlyTable } from '../analytics/analytics.schema';
import { nodeHealthHistoryTable, nodeHealthTable } from '../monitoring/monitoring.schema';
import { paymentsTable } from '../payments/payments.schema';
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
    const before = (await deliveries(admin)).length;
    const figures = await run('daily_report', { day });
    expect(figures).toMatchObject({ new_users: 2, churned_users: 1, revenue: { USDT: 5 }, payments: 1, incidents: 1 });
    expect(figures.uptime).toContainEqual({ node: 'report-node', percent: 75 });
    expect(figures.bandwidth_top).toContainEqual({ node: 'report-node', bytes: 3 * 1024 ** 3 });
    const text = await poll(async () => (await deliveries(admin)).slice(before).find((d) => d.text?.startsWith('📊 Daily report'))?.text);
    expect(text).toContain('Daily report 2019-06-10 – 2019-06-10');
    expect(text).toContain('report-node: 75%');
    expect(text).toContain('report-node: 3.00 GiB');
  });

  it('adds trends against the previous week to the weekly report', async () => {
    await withTestDb((db) =>
      db.insert(usersTable).values([
        { telegramId: 7_810_000_001, fullName: 'W1', createdAt: new Date('2018-03-05T10:00:00Z') },
        { telegramId: 7_810_000_002, fullName: 'W2', createdAt: new Date('2018-03-12T10:00:00Z') },
        { telegramId: 7_810_000_003, fullName: 'W3', createdAt: new Date('2018-03-13T10:00:00Z') },
      ]),
    );
    const before = (await deliveries(admin)).length;
    const result = await run('weekly_report', { until: '2018-03-19' });
    expect(result).toMatchObject({ figures: { new_users: 2 }, previous: { new_users: 1 } });
    const text = await poll(async () => (await deliveries(admin)).slice(before).find((d) => d.text?.startsWith('📊 Weekly report'))?.text);
    expect(text).toContain('New users: 2 (+100% vs last week)');
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
