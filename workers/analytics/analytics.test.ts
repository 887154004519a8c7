import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { and, eq, sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { dashboard } from '../../durable-objects/dashboard/dashboard.do';
import { getConfig } from '../core/config';
import worker from '../index';
import type { Revenue } from '../payments/payments.repo';
import { paymentsTable } from '../payments/payments.schema';
import { taskRegistry } from '../registry';
import type { TaskDefinition } from '../tasks/task';
import { taskRunsTable } from '../tasks/tasks.schema';
import { uniqueTelegramId, withTestDb } from '../testing/db';
import { callApi, json } from '../testing/http';
import { kickOverHttp, runWithStatus } from '../testing/runs';
import { taskContext } from '../testing/task-context';
import { usersTable } from '../users/users.schema';
import { bandwidthHourlyTable, bandwidthSnapshotsTable, dailyStatsTable } from './analytics.schema';

const panel = env.REMNAWAVE_URL;
const run = async (task: string, args: object = {}) =>
  (await runWithStatus(await kickOverHttp(task, args), 'succeeded')).result as Record<string, unknown>;
const setNode = async (node: Record<string, unknown>) =>
  expect((await fetch(`${panel}/__control/nodes`, { method: 'POST', body: JSON.stringify(node) })).ok).toBe(true);

describe('bandwidth', () => {
  it('snapshots each node with the bytes since its last snapshot, and aggregates the hour', async () => {
    const uuid = crypto.randomUUID();
    const node = { uuid, name: `bw-${uuid.slice(0, 6)}`, isConnected: true, isDisabled: false, isConnecting: false, usersOnline: 3 };
    for (const traffic of [1000, 5000, 500]) {
      await setNode({ ...node, trafficUsedBytes: traffic });
      await run('collect_bandwidth');
    }
    const snaps = await withTestDb((db) =>
      db.select().from(bandwidthSnapshotsTable).where(eq(bandwidthSnapshotsTable.nodeUuid, uuid)).orderBy(bandwidthSnapshotsTable.at),
    );
    // First: no baseline; then +4000; then the counter was reset and shows 500.
    expect(snaps.map((s) => s.deltaBytes)).toEqual([0, 4000, 500]);
    // A raw point older than 48 h goes at the next aggregation.
    await withTestDb((db) =>
      db
        .insert(bandwidthSnapshotsTable)
        .values({ nodeUuid: uuid, at: sql`now() - interval '49 hours'`, trafficBytes: 1, deltaBytes: 1, usersOnline: 0 }),
    );
    const hour = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000).toISOString();
    const result = await run('aggregate_bandwidth', { hour });
    expect(result.removed_snapshots).toBeGreaterThanOrEqual(1);
    const [agg] = await withTestDb((db) =>
      db
        .select()
        .from(bandwidthHourlyTable)
        .where(and(eq(bandwidthHourlyTable.nodeUuid, uuid), eq(bandwidthHourlyTable.hour, new Date(hour)))),
    );
    expect(agg).toMatchObject({ sumBytes: 4500, maxBytes: 4000, minBytes: 0, avgBytes: 1500, samples: 3 });
  });

  it('records nothing while the panel has no nodes', async () => {
    // Back to the stand-in's start: no nodes (earlier tests added some).
    expect((await fetch(`${panel}/__control/reset`, { method: 'POST' })).ok).toBe(true);
    const count = async () =>
      (await withTestDb((db) => db.execute<{ n: number }>(sql`select count(*)::int as n from ${bandwidthSnapshotsTable}`))).rows[0]?.n;
    const before = await count();
    expect(await run('collect_bandwidth')).toEqual({ nodes: 0 });
    expect(await count()).toBe(before);
  });

  it('records a node without traffic tracking at 0 bytes, and counts from there once tracking starts', async () => {
    const uuid = crypto.randomUUID();
    const node = { uuid, name: `untracked-${uuid.slice(0, 6)}`, isConnected: true, isDisabled: false, isConnecting: false, usersOnline: 2 };
    for (const traffic of [null, 700]) {
      await setNode({ ...node, trafficUsedBytes: traffic });
      await run('collect_bandwidth');
    }
    const snaps = await withTestDb((db) =>
      db.select().from(bandwidthSnapshotsTable).where(eq(bandwidthSnapshotsTable.nodeUuid, uuid)).orderBy(bandwidthSnapshotsTable.at),
    );
    expect(snaps.map((s) => [s.trafficBytes, s.deltaBytes, s.usersOnline])).toEqual([
      [0, 0, 2],
      [700, 700, 2],
    ]);
  });
});

describe('daily stats and the dashboard', () => {
  it("stores a day's figures", async () => {
    // Ten days ago: within the 90 days kept, and a day no other test creates users on.
    const day = new Date(Date.now() - 10 * 86_400_000).toISOString().slice(0, 10);
    await withTestDb((db) =>
      db.insert(usersTable).values([
        { telegramId: 7_700_000_001, fullName: 'New 1', createdAt: new Date(`${day}T01:00:00Z`) },
        { telegramId: 7_700_000_002, fullName: 'New 2', createdAt: new Date(`${day}T23:00:00Z`) },
      ]),
    );
    const panelUser = {
      id: 880_000 + Math.floor(Math.random() * 10_000),
      username: 'stats_user',
      status: 'ACTIVE',
      expireAt: new Date(Date.now() + 86_400_000).toISOString(),
    };
    expect((await fetch(`${panel}/__control/users`, { method: 'POST', body: JSON.stringify(panelUser) })).ok).toBe(true);
    const result = await run('daily_stats', { day });
    expect(result).toMatchObject({
      day,
      stats: { new_users: 2, bandwidth_bytes: 0, revenue: { count: 0, revenue: {}, by_plan: {}, by_method: {} }, admin_operations: 0 },
    });
    // A day past the 90 kept is removed by the same run.
    await withTestDb((db) => db.insert(dailyStatsTable).values({ day: '2000-01-01', stats: {} }).onConflictDoNothing());
    await run('daily_stats', { day });
    expect(await withTestDb((db) => db.select().from(dailyStatsTable).where(eq(dailyStatsTable.day, '2000-01-01')))).toEqual([]);
    expect((result.stats as { users_by_status: Record<string, number> }).users_by_status.ACTIVE).toBeGreaterThanOrEqual(1);
    const [row] = await withTestDb((db) => db.select().from(dailyStatsTable).where(eq(dailyStatsTable.day, day)));
    expect(row?.stats).toMatchObject({ new_users: 2 });
  });

  it("stores yesterday's real revenue when its cron fires at 00:05, before daily_financial_stats at 00:30", async () => {
    const today = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());
    const yesterdayNoon = new Date(today - 12 * 3600_000);
    const base = 3_000_000_000 + Math.floor(Math.random() * 1_000_000) * 10;
    const paid = (i: number, plan: string, amount: string, asset: string) => ({
      invoiceId: base + i,
      remnawaveUserId: 1,
      plan: `${plan}-${base}`,
      days: 30,
      amount,
      asset,
      status: 'completed' as const,
      completedAt: yesterdayNoon,
    });
    await withTestDb((db) =>
      db.insert(paymentsTable).values([paid(0, 'month', '5', 'USDT'), paid(1, 'year', '45', 'USDT'), paid(2, 'month', '1.5', 'TON')]),
    );
    const scheduledTime = today + 5 * 60_000;
    await worker.scheduled({ cron: '5 0 * * *', scheduledTime, noRetry: () => {} } as ScheduledController, env);
    const key = `cron:daily_stats:${new Date(scheduledTime).toISOString()}`;
    const [kicked] = await withTestDb((db) => db.select().from(taskRunsTable).where(eq(taskRunsTable.idempotencyKey, key)));
    const run = await runWithStatus(kicked?.id as string, 'succeeded');
    const revenue = (run.result as { stats: { revenue: Revenue } }).stats.revenue;
    // Only this test completes payments yesterday: the figures are exactly its three.
    expect(revenue).toEqual({
      count: 3,
      revenue: { TON: 1.5, USDT: 50 },
      by_plan: {
        [`month-${base}`]: { count: 2, revenue: { TON: 1.5, USDT: 5 } },
        [`year-${base}`]: { count: 1, revenue: { USDT: 45 } },
      },
      by_method: { cryptobot: { count: 3, revenue: { TON: 1.5, USDT: 50 } } },
    });
  });

  it("stores a day's figures without users by status when no panel is configured", async () => {
    // Twelve days ago: a day no other test creates users on.
    const day = new Date(Date.now() - 12 * 86_400_000).toISOString().slice(0, 10);
    await withTestDb((db) =>
      db.insert(usersTable).values({ telegramId: uniqueTelegramId(), fullName: 'No panel', createdAt: new Date(`${day}T12:00:00Z`) }),
    );
    const dailyStats = taskRegistry.get('daily_stats') as TaskDefinition;
    const config = { ...getConfig(env), REMNAWAVE_URL: '' };
    const stats = {
      users_by_status: {},
      new_users: 1,
      bandwidth_bytes: 0,
      revenue: { count: 0, revenue: {}, by_plan: {}, by_method: {} },
      admin_operations: 0,
    };
    expect(await dailyStats.handler(taskContext('daily_stats', { day }, { config }))).toEqual({ day, stats });
    const [row] = await withTestDb((db) => db.select().from(dailyStatsTable).where(eq(dailyStatsTable.day, day)));
    expect(row?.stats).toEqual(stats);
  });

  it('aggregates the previous hour and yesterday when no time is given', async () => {
    expect(await run('aggregate_bandwidth')).toMatchObject({ hour: expect.any(String) });
    expect(await run('daily_stats')).toMatchObject({ day: new Date(Date.now() - 86_400_000).toISOString().slice(0, 10) });
  });

  it('serves the realtime snapshot and keeps its 30-second refresh running', async () => {
    const uuid = crypto.randomUUID();
    await setNode({
      uuid,
      name: 'dash-node',
      isConnected: true,
      isDisabled: false,
      isConnecting: false,
      usersOnline: 7,
      trafficUsedBytes: 0,
    });
    await dashboard(env).refresh();
    const snap = await json<{ servers: number; active_servers: number; online_users: number; last_events: unknown[] }>(
      await callApi('/dashboard'),
    );
    expect(snap.servers).toBeGreaterThanOrEqual(1);
    expect(snap.active_servers).toBeGreaterThanOrEqual(1);
    expect(snap.online_users).toBeGreaterThanOrEqual(7);
    expect(Array.isArray(snap.last_events)).toBe(true);
    await run('keep_dashboard');
    const alarm = await runInDurableObject(dashboard(env), (_o, ctx) => ctx.storage.getAlarm());
    expect(alarm).not.toBeNull();
  });

  // Last: the outage opens this isolate's breaker for the panel.
  it('still refreshes when the panel is down, naming what it could not read', async () => {
    await fetch(`${panel}/__control/config`, { method: 'POST', body: JSON.stringify({ down: true }) });
    try {
      const snap = await dashboard(env).refresh();
      expect(snap.servers).toBe(0);
      expect(snap.errors?.[0]).toMatch(/^panel: /);
      expect(Array.isArray(snap.last_events)).toBe(true);
    } finally {
      await fetch(`${panel}/__control/config`, { method: 'POST', body: JSON.stringify({ down: false }) });
    }
  });
});
