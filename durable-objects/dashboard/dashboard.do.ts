import { DurableObject } from 'cloudflare:workers';
import { sql } from 'drizzle-orm';
import { bandwidthSnapshotsTable } from '../../workers/analytics/analytics.schema';
import { remnawave } from '../../workers/clients/remnawave';
import { getConfig } from '../../workers/core/config';
import { createDb } from '../../workers/core/db';
import { createLogger, errorMessage } from '../../workers/core/logger';
import { classify, type NodeEvent, recentNodeEvents } from '../../workers/monitoring/nodes';
import { cacheGet, PANEL_NODES_KEY, PANEL_STATS_KEY } from '../../workers/sync/sync.cache';

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

const eventLine = (e: NodeEvent | undefined) => (e ? `${e.at.slice(11, 19)} ${e.node}: ${e.from ?? 'new'} → ${e.to}` : null);

/** How often the snapshot is refreshed: more often than a cron can, hence an alarm. */
const REFRESH_MS = 30_000;

/**
 * The realtime dashboard (one object, `DASHBOARD.idFromName('dashboard')`): every 30 s its alarm reads
 * the panel's nodes, the last 5 minutes of bandwidth and the last node events, and the panel data the
 * sync jobs cache (users by status, node configuration), and keeps the snapshot in its storage
 * (`snapshot`) for `GET /api/dashboard` and its event stream. A node's status change is pushed in at
 * once (`nodeChanged`). A cron pokes it every minute so the alarm chain never stays broken.
 */
export class DashboardObject extends DurableObject<Env> {
  /** Starts the 30 s refresh if it is not running. */
  async start(): Promise<void> {
    if ((await this.ctx.storage.getAlarm()) === null) await this.ctx.storage.setAlarm(Date.now());
  }

  async snapshot(): Promise<Dashboard> {
    return this.ctx.storage.kv.get<Dashboard>('snapshot') ?? (await this.refresh());
  }

  override async alarm(): Promise<void> {
    await this.ctx.storage.setAlarm(Date.now() + REFRESH_MS);
    await this.refresh();
  }

  /** Puts a node's status change on the snapshot at once, ahead of the next refresh. */
  async nodeChanged(event: NodeEvent): Promise<Dashboard> {
    const snapshot = await this.snapshot();
    snapshot.last_events = [event, ...snapshot.last_events].slice(0, 5);
    snapshot.last_event = eventLine(event);
    this.ctx.storage.kv.put('snapshot', snapshot);
    return snapshot;
  }

  async refresh(): Promise<Dashboard> {
    const config = getConfig(this.env);
    const db = createDb(config);
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
    this.ctx.storage.kv.put('snapshot', snapshot);
    return snapshot;
  }
}

export function dashboard(env: Env): DurableObjectStub<DashboardObject> {
  return env.DASHBOARD.get(env.DASHBOARD.idFromName('dashboard'));
}
