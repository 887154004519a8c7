import { sql } from 'drizzle-orm';
import { remnawave } from '../clients/remnawave';
import type { Config } from '../core/config';
import type { Db } from '../core/db';
import { createLogger, errorMessage } from '../core/logger';
import { classify, type NodeEvent, recentNodeEvents } from '../monitoring/nodes';
import { cacheGet, PANEL_NODES_KEY, PANEL_STATS_KEY } from '../sync/sync.cache';
import { bandwidthSnapshotsTable } from './analytics.schema';

/** What the dashboard needs of the cached panel statistics (`sync_user_stats`). */
interface PanelStats {
  users?: { statusCounts?: Record<string, number>; totalUsers?: number };
}

export interface Dashboard {
  at: string;
  online_users: number;
  /** Bytes the nodes carried in the last 5 minutes. */
  bandwidth_bytes_5m: number;
  active_servers: number;
  servers: number;
  last_events: NodeEvent[];
  /** The latest status change, as one line (for the console's live view); null when there is none. */
  last_event: string | null;
  /** Panel users by status, from the cache `sync_user_stats` keeps (null until it has run). */
  users_by_status: Record<string, number> | null;
  /** The panel's nodes with their address and country, from the cache `sync_node_configs` keeps. */
  nodes: { uuid: string; name: string; address: string | null; country_code: string | null }[];
  /** Set when a source could not be read; the figures of the others are still current. */
  errors?: string[];
}

/** The latest status change as one line, or null. */
const eventLine = (e: NodeEvent | undefined) => (e ? `${e.at.slice(11, 19)} ${e.node}: ${e.from ?? 'new'} → ${e.to}` : null);

/**
 * The dashboard now: the panel's nodes, the last 5 minutes of bandwidth, the last node events and the
 * panel data the sync jobs cache. A source that cannot be read is named in `errors`; the others are
 * still current.
 */
export async function buildDashboard(config: Config, db: Db): Promise<Dashboard> {
  const errors: string[] = [];
  const read = async <T>(what: string, fn: () => Promise<T>, fallback: T): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      errors.push(`${what}: ${errorMessage(err)}`);
      return fallback;
    }
  };
  const nodes = config.REMNAWAVE_URL ? await read('panel', () => remnawave(config).nodes(), []) : [];
  const s = bandwidthSnapshotsTable;
  const bandwidth = await read(
    'bandwidth',
    async () =>
      Number(
        (
          await db.execute<{ b: string }>(
            sql`select coalesce(sum(delta_bytes), 0)::text as b from ${s} where at > now() - interval '5 minutes'`,
          )
        ).rows[0]?.b ?? 0,
      ),
    0,
  );
  const events = await read('events', () => recentNodeEvents(db, 5), []);
  const stats = await read('users cache', () => cacheGet<PanelStats>(db, PANEL_STATS_KEY), undefined);
  const configs = await read('nodes cache', () => cacheGet<Record<string, unknown>[]>(db, PANEL_NODES_KEY), undefined);
  const lastEvents = events.map((e) => ({ node: e.node ?? 'unknown', from: e.from, to: e.to, at: e.at.toISOString() }));
  const snapshot: Dashboard = {
    at: new Date().toISOString(),
    online_users: nodes.reduce((n, node) => n + Number(node.usersOnline ?? 0), 0),
    bandwidth_bytes_5m: bandwidth,
    active_servers: nodes.filter((n) => classify(n) === 'online').length,
    servers: nodes.length,
    last_events: lastEvents,
    last_event: eventLine(lastEvents[0]),
    users_by_status: stats?.users?.statusCounts ?? null,
    nodes: (configs ?? []).map((n) => ({
      uuid: String(n.uuid),
      name: String(n.name),
      address: typeof n.address === 'string' ? n.address : null,
      country_code: typeof n.countryCode === 'string' ? n.countryCode : null,
    })),
    ...(errors.length ? { errors } : {}),
  };
  if (errors.length) createLogger('dashboard').warn('dashboard_partial', { errors });
  return snapshot;
}

/** The snapshot with a node's status change on top. */
export function withNodeEvent(snapshot: Dashboard, event: NodeEvent): Dashboard {
  const last = [event, ...snapshot.last_events].slice(0, 5);
  return { ...snapshot, last_events: last, last_event: eventLine(event) };
}
