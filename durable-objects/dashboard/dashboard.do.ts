import { DurableObject } from 'cloudflare:workers';
import { sql } from 'drizzle-orm';
import { bandwidthSnapshotsTable } from '../../workers/analytics/analytics.schema';
import { remnawave } from '../../workers/clients/remnawave';
import { getConfig } from '../../workers/core/config';
import { createDb } from '../../workers/core/db';
import { createLogger, errorMessage } from '../../workers/core/logger';
import { classify, recentNodeEvents } from '../../workers/monitoring/nodes';

export interface Dashboard {
  at: string;
  online_users: number;
  /** Bytes the nodes carried in the last 5 minutes. */
  bandwidth_bytes_5m: number;
  active_servers: number;
  servers: number;
  last_events: { node: string; from: string | null; to: string; at: string }[];
  /** Set when a source could not be read; the figures of the others are still current. */
  errors?: string[];
}

/** How often the snapshot is refreshed: more often than a cron can, hence an alarm. */
export const REFRESH_MS = 30_000;

/**
 * The realtime dashboard (one object, `DASHBOARD.idFromName('dashboard')`): every 30 s its alarm reads
 * the panel's nodes, the last 5 minutes of bandwidth and the last node events, and keeps the snapshot
 * in its storage (`snapshot`) for `GET /api/dashboard`. A cron pokes it every minute so the alarm
 * chain never stays broken.
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
    const snapshot: Dashboard = {
      at: new Date().toISOString(),
      online_users: nodes.reduce((n, node) => n + Number(node.usersOnline ?? 0), 0),
      bandwidth_bytes_5m: bandwidth,
      active_servers: nodes.filter((n) => classify(n) === 'online').length,
      servers: nodes.length,
      last_events: events.map((e) => ({ node: e.node ?? 'unknown', from: e.from, to: e.to, at: e.at.toISOString() })),
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
