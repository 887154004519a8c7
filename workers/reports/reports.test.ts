import { eq, sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { bandwidthHourlyTable } from '../analytics/analytics.schema';
import { nodeHealthHistoryTable, nodeHealthTable, serviceLatencyTable } from '../monitoring/monitoring.schema';
import { paymentsTable } from '../payments/payments.schema';
import { cachePut, PANEL_STATS_KEY } from '../sync/sync.cache';
import { cacheEntriesTable } from '../sync/sync.schema';
import { taskRunsTable } from '../tasks/tasks.schema';
import { admin } from '../testing/admin-chat';
import { outboxDrained, textsSince } from '../testing/alerts';
import { withTestDb } from '../testing/db';
import { poll } from '../testing/poll';
import { kickOverHttp, runWithStatus } from '../testing/runs';
import { deliveries } from '../testing/telegram';
import { usersTable } from '../users/users.schema';

const run = async (task: string, args: object = {}) =>
  (await runWithStatus(await kickOverHttp(task, args), 'succeeded')).result as Record<string, unknown>;
/** The report to the first admin that starts with `title`, sent after the `before`th delivery (as the chat shows it: HTML rendered). */
const reportText = (title: string, before: number) =>
  poll(async () => (await deliveries(admin)).slice(before).find((d) => d.text?.startsWith(`📊 ${title}`))?.text, {
    what: title,
  });
/** As before `sync_user_stats` first caches the panel's statistics (or after they expired). */
const forgetPanelStats = () => withTestDb((db) => db.delete(cacheEntriesTable).where(eq(cacheEntriesTable.key, PANEL_STATS_KEY)));
/** `count` runs of `task` that died with `error`, finished at `at`. */
const deadRuns = (task: string, error: string, at: Date, count: number) =>
  withTestDb((db) =>
    db.insert(taskRunsTable).values(
      Array.from({ length: count }, () => ({
        id: crypto.randomUUID(),
        name: task,
        args: {},
        status: 'dead' as const,
        attempts: 4,
        maxAttempts: 4,
        correlationId: 'test',
        error,
        startedAt: at,
        finishedAt: at,
        expiresAt: sql`now() + interval '1 day'`,
      })),
    ),
  );

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
        createdAt: at('02'),
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
        createdAt: completedAt,
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

describe('reports: the unusual', () => {
  it('names the errors of the day, shows a node down all day at 0 %, and active users unknown while the panel stats are not cached', async () => {
    const node = crypto.randomUUID();
    await withTestDb(async (db) => {
      await db.insert(nodeHealthTable).values({ nodeUuid: node, name: 'dark-node', status: 'online' });
      // Offline from the day before until the day after.
      await db.insert(nodeHealthHistoryTable).values([
        { nodeUuid: node, fromStatus: 'online', toStatus: 'offline', source: 'poll', at: new Date('2016-05-09T12:00:00Z') },
        { nodeUuid: node, fromStatus: 'offline', toStatus: 'online', source: 'poll', at: new Date('2016-05-11T06:00:00Z') },
      ]);
    });
    await deadRuns('sync_user_stats', 'remnawave: HTTP 502 <center>nginx</center>', new Date('2016-05-10T08:00:00Z'), 3);
    await deadRuns('daily_stats', 'canceling statement due to statement timeout', new Date('2016-05-10T00:05:00Z'), 1);
    // Died the day after: another day's error.
    await deadRuns('daily_stats', 'connection refused', new Date('2016-05-11T00:05:00Z'), 1);
    await forgetPanelStats();
    const before = (await deliveries(admin)).length;
    expect(await run('daily_report', { day: '2016-05-10' })).toEqual({
      new_users: 0,
      churned_users: 0,
      active_users: null,
      revenue: {},
      revenue_by_plan: {},
      revenue_by_method: {},
      payments: 0,
      incidents: 0,
      uptime: [{ node: 'dark-node', percent: 0 }],
      bandwidth_top: [],
      top_errors: [
        { task: 'sync_user_stats', error: 'remnawave: HTTP 502 <center>nginx</center>', count: 3 },
        { task: 'daily_stats', error: 'canceling statement due to statement timeout', count: 1 },
      ],
      problem_nodes: [],
      panel_latency_ms: null,
    });
    // The error's tags arrive as text: escaped, or Telegram would have refused the whole report.
    expect(await reportText('Daily report', before)).toBe(
      [
        '📊 Daily report 2016-05-10 – 2016-05-10',
        '',
        '👤 New users: 0',
        '🚪 Churn (blocked the bot): 0',
        '✅ Active users: unknown',
        '💰 Revenue: 0 from 0 payments',
        '🚨 Incidents (node went offline): 0',
        '',
        'Uptime',
        '• dark-node: 0%',
        '',
        'Top errors',
        '• sync_user_stats ×3: remnawave: HTTP 502 <center>nginx</center>',
        '• daily_stats ×1: canceling statement due to statement timeout',
      ].join('\n'),
    );
  });

  it('recommends looking at a slow panel, a lost asset, churn above sign-ups and a task that keeps dying; a small revenue dip is no news', async () => {
    // The week of 8 February 2016 against the week before; no node history reaches back this far.
    const at = (iso: string) => new Date(`2016-02-${iso}Z`);
    await withTestDb(async (db) => {
      await db.insert(usersTable).values([
        // Two sign-ups the week before, one this week.
        { telegramId: 7_820_000_001, fullName: 'P1', createdAt: at('02T10:00:00') },
        { telegramId: 7_820_000_002, fullName: 'P2', createdAt: at('03T10:00:00') },
        { telegramId: 7_820_000_003, fullName: 'C1', createdAt: at('09T10:00:00') },
        // Three older users blocked the bot this week.
        ...[10, 11, 12].map((d, i) => ({
          telegramId: 7_820_000_010 + i,
          fullName: `B${i}`,
          createdAt: new Date('2016-01-10T10:00:00Z'),
          isActive: false,
          blockedAt: at(`${d}T10:00:00`),
        })),
      ]);
      const payment = (i: number, amount: string, asset: string, completedAt: Date) => ({
        invoiceId: 1_920_000_000 + i,
        remnawaveUserId: 1,
        plan: 'quarter',
        days: 90,
        amount,
        asset,
        status: 'completed' as const,
        createdAt: completedAt,
        completedAt,
      });
      await db.insert(paymentsTable).values([
        // The week before: 100 USDT and 10 TON.
        payment(1, '100', 'USDT', at('02T10:00:00')),
        payment(2, '10', 'TON', at('03T10:00:00')),
        // This week: 90 USDT (-10 %), no TON at all, and a first BTC payment.
        payment(3, '90', 'USDT', at('09T10:00:00')),
        payment(4, '0.001', 'BTC', at('10T10:00:00')),
      ]);
      await db.insert(serviceLatencyTable).values({ service: 'remnawave', day: '2016-02-10', checks: 10, totalMs: 25_000, maxMs: 4_000 });
    });
    await deadRuns('sync_user_stats', 'remnawave: HTTP 503 Service Unavailable', at('11T10:00:00'), 12);
    await forgetPanelStats();
    const before = (await deliveries(admin)).length;
    const result = await run('weekly_report', { until: '2016-02-15' });
    expect(result).toMatchObject({
      figures: { new_users: 1, churned_users: 3, revenue: { BTC: 0.001, USDT: 90 }, payments: 2, uptime: [] },
      previous: { new_users: 2, churned_users: 0, revenue: { TON: 10, USDT: 100 }, payments: 2, top_errors: [] },
    });
    expect(await reportText('Weekly report', before)).toBe(
      [
        '📊 Weekly report 2016-02-08 – 2016-02-14',
        '',
        '👤 New users: 1 (-50% vs last week)',
        '🚪 Churn (blocked the bot): 3 (new)',
        '✅ Active users: unknown',
        '💰 Revenue: 0.001 BTC (new), 0 TON (-100% vs last week), 90 USDT (-10% vs last week) from 2 payments (+0% vs last week)',
        '  • plan quarter: 0.001 BTC, 90 USDT (2)',
        '  • via cryptobot: 0.001 BTC, 90 USDT (2)',
        '🚨 Incidents (node went offline): 0 (=)',
        '',
        'Top errors',
        '• sync_user_stats ×12: remnawave: HTTP 503 Service Unavailable',
        '',
        '⏱ Panel API: avg 2500 ms, max 4000 ms over 10 checks',
        '',
        'Recommendations',
        '• The panel answered in 2500 ms on average: check its load.',
        '• Revenue in TON fell 100%: check payments and renewals.',
        '• More users blocked the bot (3) than joined (1).',
        '• Task sync_user_stats failed 12 times: see its runs in the console.',
      ].join('\n'),
    );
  });

  it('says a quiet week is quiet: no revenue, no change, nothing to recommend', async () => {
    await forgetPanelStats();
    const before = (await deliveries(admin)).length;
    await run('weekly_report', { until: '2014-03-10' });
    expect(await reportText('Weekly report', before)).toBe(
      [
        '📊 Weekly report 2014-03-03 – 2014-03-09',
        '',
        '👤 New users: 0 (=)',
        '🚪 Churn (blocked the bot): 0 (=)',
        '✅ Active users: unknown',
        '💰 Revenue: 0 from 0 payments (=)',
        '🚨 Incidents (node went offline): 0 (=)',
        '',
        '⏱ Panel API: no answer recorded',
        '',
        'Recommendations',
        '• None: nothing unusual this week.',
      ].join('\n'),
    );
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
      const a = await textsSince(admin, before, 'queue backlog');
      return a.length === 2 ? a : undefined;
    });
    expect(alerts[0]).toMatch(/^⚠️ WARNING: anomaly: queue backlog/);
    expect(alerts[1]).toContain('Resolved');
  });

  it('alerts CRITICAL once when more than 10 % of the last 24 h of payments failed, and once when that is over', async () => {
    // Every other payment this file writes was created long ago: these ten are the last 24 hours'.
    const base = 1_930_000_000;
    const payment = (i: number, status: 'completed' | 'failed' | 'mismatch', error: string | null) => ({
      invoiceId: base + i,
      remnawaveUserId: 1,
      plan: 'month',
      days: 30,
      amount: '5',
      asset: 'USDT',
      status,
      error,
      completedAt: status === 'completed' ? new Date() : null,
    });
    await withTestDb((db) =>
      db
        .insert(paymentsTable)
        .values([
          payment(0, 'failed', 'not paid within 24 hours'),
          payment(1, 'failed', 'not paid within 24 hours'),
          payment(2, 'mismatch', 'amount 4.99 ≠ 5'),
          ...Array.from({ length: 7 }, (_, i) => payment(3 + i, 'completed', null)),
        ]),
    );
    const before = (await deliveries(admin)).length;
    expect(await run('detect_anomalies')).toMatchObject({ payment_failures: { value: 0.3, active: true } });
    // Still failing: no second alert.
    expect(await run('detect_anomalies')).toMatchObject({ payment_failures: { value: 0.3, active: true } });
    // The three failures age out of the window.
    await withTestDb((db) =>
      db.execute(sql`update payments set created_at = now() - interval '25 hours'
        where invoice_id between ${base} and ${base + 2}`),
    );
    expect(await run('detect_anomalies')).toMatchObject({ payment_failures: { value: 0, active: false } });
    await outboxDrained();
    const alerts = await textsSince(admin, before, 'payment failures');
    expect(alerts).toEqual([
      '🚨 CRITICAL: anomaly: payment failures 30.0% over 24 h (3/10)',
      '✅ Resolved: payment failures 0.0% over 24 h (0/7)',
    ]);
  });
});
