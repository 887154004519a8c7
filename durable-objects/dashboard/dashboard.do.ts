import { DurableObject } from 'cloudflare:workers';
import { buildDashboard, type Dashboard, withNodeEvent } from '../../workers/analytics/dashboard';
import { getConfig } from '../../workers/core/config';
import { createDb } from '../../workers/core/db';
import type { NodeEvent } from '../../workers/monitoring/nodes';

/** How often the snapshot is refreshed: more often than a cron can, hence an alarm. */
const REFRESH_MS = 30_000;

/**
 * The realtime dashboard (one object, `DASHBOARD.idFromName('dashboard')`): every 30 s its alarm
 * rebuilds the snapshot (`buildDashboard`) and keeps it in its storage (`snapshot`) for
 * `GET /api/dashboard` and its event stream. A node's status change is pushed in at once
 * (`nodeChanged`). A cron pokes it every minute so the alarm chain never stays broken.
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
    const snapshot = withNodeEvent(await this.snapshot(), event);
    this.ctx.storage.kv.put('snapshot', snapshot);
    return snapshot;
  }

  async refresh(): Promise<Dashboard> {
    const config = getConfig(this.env);
    const snapshot = await buildDashboard(config, createDb(config));
    this.ctx.storage.kv.put('snapshot', snapshot);
    return snapshot;
  }
}

export function dashboard(env: Env): DurableObjectStub<DashboardObject> {
  return env.DASHBOARD.get(env.DASHBOARD.idFromName('dashboard'));
}
