/**
 * The panel's system and bandwidth statistics, computed from the stand-in state so that seeded traffic shows up.
 */
import { availableParallelism, freemem, totalmem } from 'node:os';
import type {
  GetBandwidthStatsCommand,
  GetRemnawaveHealthCommand,
  GetStatsCommand,
  GetStatsNodesUsageCommand,
} from '@remnawave/backend-contract';
import type { z } from 'zod';
import { listNodes, listUsers, type State } from './state.ts';

type Response<C extends { ResponseSchema: unknown }> = z.input<C['ResponseSchema']> extends { response: infer R } ? R : never;

const ONLINE_NOW_MS = 60_000;
const DAY_MS = 86_400_000;
const COLORS = ['#4dabf7', '#69db7c', '#ffa94d', '#f783ac', '#9775fa', '#3bc9db'];

/** GET /api/system/stats */
export function systemStats(state: State, now = Date.now()): Response<typeof GetStatsCommand> {
  const users = listUsers(state);
  const statusCounts = { ACTIVE: 0, DISABLED: 0, LIMITED: 0, EXPIRED: 0 };
  const online = { lastDay: 0, lastWeek: 0, neverOnline: 0, onlineNow: 0 };
  for (const user of users) {
    statusCounts[user.status] += 1;
    const seen = user.userTraffic.onlineAt === null ? undefined : now - Date.parse(user.userTraffic.onlineAt);
    if (seen === undefined) online.neverOnline += 1;
    else {
      if (seen <= ONLINE_NOW_MS) online.onlineNow += 1;
      if (seen <= DAY_MS) online.lastDay += 1;
      if (seen <= 7 * DAY_MS) online.lastWeek += 1;
    }
  }
  const nodes = listNodes(state);
  const total = totalmem();
  const free = freemem();
  return {
    cpu: { cores: availableParallelism() },
    memory: { total, free, used: total - free },
    uptime: Math.round(process.uptime()),
    timestamp: now,
    users: { statusCounts, totalUsers: users.length },
    onlineStats: online,
    nodes: {
      totalOnline: nodes.reduce((sum, n) => sum + (n.isConnected ? n.usersOnline : 0), 0),
      totalBytesLifetime: String(users.reduce((sum, u) => sum + u.userTraffic.lifetimeUsedTrafficBytes, 0)),
    },
  };
}

/** GET /api/system/stats/bandwidth: everything seeded counts as this period's traffic. */
export function bandwidthStats(state: State): Response<typeof GetBandwidthStatsCommand> {
  const used = listNodes(state).reduce((sum, n) => sum + (n.trafficUsedBytes ?? 0), 0);
  const stat = { current: formatBytes(used), previous: formatBytes(0), difference: formatBytes(used) };
  return {
    bandwidthLastTwoDays: stat,
    bandwidthLastSevenDays: stat,
    bandwidthLast30Days: stat,
    bandwidthCalendarMonth: stat,
    bandwidthCurrentYear: stat,
  };
}

/** GET /api/bandwidth-stats/nodes: each node's `trafficUsedBytes` lands on the last day of the range. */
export function nodesUsage(
  state: State,
  query: { start: string; end: string; topNodesLimit: number },
): Response<typeof GetStatsNodesUsageCommand> {
  const categories: string[] = [];
  for (let day = Date.parse(query.start); day <= Date.parse(query.end) && categories.length < 366; day += DAY_MS) {
    categories.push(new Date(day).toISOString().slice(0, 10));
  }
  const perDay = (total: number) => categories.map((_, i) => (i === categories.length - 1 ? total : 0));
  const series = listNodes(state).map((node, i) => {
    const total = categories.length > 0 ? (node.trafficUsedBytes ?? 0) : 0;
    return {
      uuid: node.uuid,
      name: node.name,
      color: COLORS[i % COLORS.length] ?? '#4dabf7',
      countryCode: node.countryCode,
      total,
      data: perDay(total),
    };
  });
  const topNodes = [...series]
    .sort((a, b) => b.total - a.total)
    .slice(0, query.topNodesLimit)
    .map(({ data: _, ...node }) => node);
  return { categories, sparklineData: perDay(series.reduce((sum, s) => sum + s.total, 0)), topNodes, series };
}

/** GET /api/system/health: this process stands in for the panel's single API instance. */
export function health(): Response<typeof GetRemnawaveHealthCommand> {
  const memory = process.memoryUsage();
  return {
    runtimeMetrics: [
      {
        rss: memory.rss,
        heapUsed: memory.heapUsed,
        heapTotal: memory.heapTotal,
        external: memory.external,
        arrayBuffers: memory.arrayBuffers,
        eventLoopDelayMs: 0,
        eventLoopP99Ms: 0,
        activeHandles: 0,
        uptime: process.uptime(),
        pid: process.pid,
        timestamp: Date.now(),
        instanceId: 'stand-in',
        instanceType: 'api',
      },
    ],
  };
}

function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB', 'PB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${Number(value.toFixed(2))} ${units[unit]}`;
}
