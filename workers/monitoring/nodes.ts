import { and, desc, eq, sql } from 'drizzle-orm';
import type { PanelNode } from '../clients/remnawave';
import type { Config } from '../core/config';
import type { Db } from '../core/db';
import type { Logger } from '../core/logger';
import { errorMessage } from '../core/logger';
import { escapeHtml } from '../core/telegram';
import { notifyAdmins } from '../incidents/incidents';
import { type NodeStatus, nodeHealthHistoryTable, nodeHealthTable, serviceHealthTable } from './monitoring.schema';

/** The nodes' current states, by name. */
export function listNodes(db: Db, limit: number) {
  return db
    .select({
      uuid: nodeHealthTable.nodeUuid,
      name: nodeHealthTable.name,
      status: nodeHealthTable.status,
      since: nodeHealthTable.since,
      checkedAt: nodeHealthTable.checkedAt,
      escalated: nodeHealthTable.escalated,
    })
    .from(nodeHealthTable)
    .orderBy(nodeHealthTable.name)
    .limit(limit);
}

/** The checked services (panel, payments, ...) and whether each is reported down. */
export function listServices(db: Db) {
  return db.select().from(serviceHealthTable).orderBy(serviceHealthTable.service);
}

/** The last `limit` status changes of the nodes, newest first (a node no longer listed shows as null). */
export function recentNodeEvents(db: Db, limit: number) {
  return db
    .select({
      node: nodeHealthTable.name,
      from: nodeHealthHistoryTable.fromStatus,
      to: nodeHealthHistoryTable.toStatus,
      source: nodeHealthHistoryTable.source,
      at: nodeHealthHistoryTable.at,
    })
    .from(nodeHealthHistoryTable)
    .leftJoin(nodeHealthTable, eq(nodeHealthTable.nodeUuid, nodeHealthHistoryTable.nodeUuid))
    .orderBy(desc(nodeHealthHistoryTable.at))
    .limit(limit);
}

/** An offline node escalates to CRITICAL after this long. */
const ESCALATE_AFTER_MS = 5 * 60_000;

/** online / offline / warning (connecting) / maintenance (disabled), from the panel's node flags. */
export function classify(node: Pick<PanelNode, 'isConnected' | 'isDisabled' | 'isConnecting'>): NodeStatus {
  if (node.isDisabled) return 'maintenance';
  if (node.isConnected) return 'online';
  if (node.isConnecting) return 'warning';
  return 'offline';
}

export interface AlertDeps {
  db: Db;
  env: Env;
  config: Config;
  log: Logger;
  /** Told of each status change as it is stored (the dashboard's push); a failure is only logged. */
  onChange?: (event: NodeEvent) => Promise<unknown>;
}

/** A node's status change, as the dashboard lists it. */
export interface NodeEvent {
  node: string;
  from: string | null;
  to: string;
  at: string;
}

const minutes = (ms: number) => Math.max(1, Math.round(ms / 60_000));

function changeText(name: string, from: NodeStatus | undefined, to: NodeStatus, sinceMs: number): string | undefined {
  const n = `<b>${escapeHtml(name)}</b>`;
  if (to === 'offline') return `🔴 Node ${n} is offline`;
  if (to === 'warning') return `🟡 Node ${n} is connecting (warning)`;
  if (to === 'maintenance') return `🛠 Node ${n} is in maintenance (disabled)`;
  if (from === 'offline' || from === 'warning') return `✅ Resolved: node ${n} is back online after ${minutes(sinceMs)} min`;
  if (from === 'maintenance') return `✅ Node ${n} is enabled and online`;
  return undefined;
}

/**
 * Feeds one observation of a node into its state machine: a change is stored with its history and
 * alerts the admins once (the store decides who won, so two observers never both alert); an outage
 * longer than 5 minutes is escalated to CRITICAL once. A first sighting that is online says nothing.
 */
export async function observeNode(
  deps: AlertDeps,
  node: { uuid: string; name: string },
  status: NodeStatus,
  source: string,
  now = Date.now(),
) {
  const { db, log } = deps;
  const [current] = await db.select().from(nodeHealthTable).where(eq(nodeHealthTable.nodeUuid, node.uuid));
  let alert: string | undefined;
  if (current?.status === status) {
    await db.update(nodeHealthTable).set({ checkedAt: sql`now()` }).where(eq(nodeHealthTable.nodeUuid, node.uuid));
    const down = now - current.since.getTime();
    if (status === 'offline' && !current.escalated && down > ESCALATE_AFTER_MS) {
      const won = await db
        .update(nodeHealthTable)
        .set({ escalated: true })
        .where(and(eq(nodeHealthTable.nodeUuid, node.uuid), eq(nodeHealthTable.escalated, false), eq(nodeHealthTable.status, 'offline')))
        .returning();
      if (won.length) alert = `🚨 CRITICAL: node <b>${escapeHtml(node.name)}</b> has been offline for ${minutes(down)} min`;
    }
  } else {
    const values = { name: node.name, status, since: new Date(now), checkedAt: new Date(now), escalated: false };
    const won = current
      ? await db
          .update(nodeHealthTable)
          .set(values)
          .where(and(eq(nodeHealthTable.nodeUuid, node.uuid), eq(nodeHealthTable.status, current.status)))
          .returning()
      : await db
          .insert(nodeHealthTable)
          .values({ nodeUuid: node.uuid, ...values })
          .onConflictDoNothing()
          .returning();
    if (won.length) {
      await db
        .insert(nodeHealthHistoryTable)
        .values({ nodeUuid: node.uuid, fromStatus: current?.status ?? null, toStatus: status, source });
      log.info('node_status_changed', { node: node.uuid, from: current?.status ?? null, to: status, source });
      await deps
        .onChange?.({ node: node.name, from: current?.status ?? null, to: status, at: new Date(now).toISOString() })
        .catch((err: unknown) => log.warn('node_change_push_failed', { error: errorMessage(err) }));
      if (current || status !== 'online')
        alert = changeText(node.name, current?.status, status, current ? now - current.since.getTime() : 0);
    }
  }
  if (alert) await notifyAdmins(deps.env, deps.config, alert, log);
  return { status, alerted: alert !== undefined };
}
