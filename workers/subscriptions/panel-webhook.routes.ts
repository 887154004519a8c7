import { RemnawaveWebhookEventSchema } from '@remnawave/backend-contract';
import { and, eq, gt } from 'drizzle-orm';
import { type Context, Hono } from 'hono';
import type { z } from 'zod';
import { dashboard } from '../../durable-objects/dashboard/dashboard.do';
import { AppError } from '../core/errors';
import { type AppEnv, limitBody, PROVIDER_WEBHOOK_MAX_BYTES, signedJson } from '../core/http';
import { nodeHealthTable } from '../monitoring/monitoring.schema';
import { observeNode } from '../monitoring/nodes';
import { logWebhook, markWebhookProcessed } from '../payments/payments.repo';
import { kicker } from '../tasks/kick';
import type { TaskRegistry } from '../tasks/task';
import { subscriptionRemindersTable } from './subscriptions.schema';
import { remindExpiring, tellExpired } from './subscriptions.service';

/**
 * How far an event's timestamp may be from now, either way, in ms. The panel sends an event when it
 * happens; one that took longer is refused, and the jobs that poll the panel pick its news up.
 */
const PANEL_EVENT_MAX_SKEW_MS = 5 * 60_000;

/**
 * `POST /webhooks/remnawave`: the panel's own events. After the size cap (413), the request must carry
 * `X-Remnawave-Timestamp` within ± 5 minutes of now and `X-Remnawave-Signature`, the hex HMAC-SHA256 of
 * the raw body under `REMNAWAVE_WEBHOOK_SECRET` (checked in constant time); the header must repeat the
 * body's own `timestamp`, which the signature covers, so neither can be moved on its own (401 for all of
 * these). Each event is applied once (`webhook_logs`, keyed by event, subject and timestamp) and an event
 * older than the state it would change is ignored: a replay changes nothing and alerts nobody.
 *
 * `user.expired` and `user.expiration` tell the user right away, through the same once-per-expiry
 * records the jobs use, so a poll that comes later says nothing twice. `node.connection_lost` /
 * `node.connection_restored` feed the node health state machine. Other events are acknowledged.
 */
export function panelWebhookRoutes(registry: TaskRegistry) {
  return new Hono<AppEnv>().post('/remnawave', limitBody(PROVIDER_WEBHOOK_MAX_BYTES), async (c) => {
    const { db, log } = c.var;
    const event = await verifiedEvent(c);
    const acted =
      (event.scope === 'node' && (event.event === 'node.connection_lost' || event.event === 'node.connection_restored')) ||
      (event.scope === 'user' && (event.event === 'user.expired' || event.event === 'user.expiration'));
    if (!acted) return c.json({ ok: true, ignored: event.event });

    const subject = event.scope === 'node' ? event.data.uuid : event.scope === 'user' ? String(event.data.id) : '';
    const key = `${event.event}:${subject}:${event.timestamp.toISOString()}`;
    // Only what dedupe and a later reader need: the event's data (a user's profile) is not kept.
    const { log: entry, fresh } = await logWebhook(db, 'remnawave', key, { event: event.event, subject, timestamp: event.timestamp });
    if (entry?.processedAt) {
      log.info('panel_webhook_duplicate', { event: event.event, subject });
      return c.json({ ok: true, duplicate: true });
    }
    // Logged but not processed: an earlier delivery failed half-way; applying again is safe.
    if (!fresh) log.info('panel_webhook_retried', { event: event.event, subject });
    const result = event.scope === 'node' ? await applyNodeEvent(c, event) : await applyUserEvent(c, registry, event);
    await markWebhookProcessed(db, 'remnawave', key);
    return c.json(result);
  });
}

type PanelEvent = z.infer<typeof RemnawaveWebhookEventSchema>;

/** The event, once its timestamp header is fresh, its signature right and both agree (401 otherwise). */
async function verifiedEvent(c: Context<AppEnv>): Promise<PanelEvent> {
  const { config, log } = c.var;
  if (!config.REMNAWAVE_WEBHOOK_SECRET) throw new AppError(404, 'not_found', 'panel webhooks are not configured');
  const stamped = Date.parse(c.req.header('x-remnawave-timestamp') ?? '');
  if (!Number.isFinite(stamped) || Math.abs(Date.now() - stamped) > PANEL_EVENT_MAX_SKEW_MS) {
    log.warn('panel_webhook_refused', { reason: 'missing or stale timestamp' });
    throw new AppError(401, 'unauthorized', 'X-Remnawave-Timestamp missing or more than 5 minutes off');
  }
  const event = await signedJson(c, {
    key: config.REMNAWAVE_WEBHOOK_SECRET,
    header: 'x-remnawave-signature',
    schema: RemnawaveWebhookEventSchema,
    refusedEvent: 'panel_webhook_refused',
    what: 'event',
  });
  if (event.timestamp.getTime() !== stamped) {
    log.warn('panel_webhook_refused', { reason: 'timestamp header does not match the signed body' });
    throw new AppError(401, 'unauthorized', 'X-Remnawave-Timestamp does not match the signed timestamp');
  }
  return event;
}

/** A node lost or got back its connection: the node health state machine, unless a newer state is known. */
async function applyNodeEvent(c: Context<AppEnv>, event: Extract<PanelEvent, { scope: 'node' }>): Promise<Record<string, unknown>> {
  const { config, db, log } = c.var;
  const at = event.timestamp.getTime();
  const status = event.event === 'node.connection_lost' ? 'offline' : 'online';
  const [current] = await db
    .select({ since: nodeHealthTable.since })
    .from(nodeHealthTable)
    .where(eq(nodeHealthTable.nodeUuid, event.data.uuid));
  if (current && current.since.getTime() > at) {
    log.info('panel_webhook_stale', { event: event.event, node: event.data.uuid });
    return { ok: true, stale: true };
  }
  // The event's own time, so a later event of the node is never taken for an older one.
  const result = await observeNode(
    { db, env: c.env, config, log, onChange: (e) => dashboard(c.env).nodeChanged(e) },
    event.data,
    status,
    'webhook',
    at,
  );
  return { ok: true, status, alerted: result.alerted };
}

/** A user's subscription expired or is about to: told once, unless a newer expiry was seen. */
async function applyUserEvent(
  c: Context<AppEnv>,
  registry: TaskRegistry,
  event: Extract<PanelEvent, { scope: 'user' }>,
): Promise<Record<string, unknown>> {
  const { config, db, log } = c.var;
  const user = event.data;
  // A newer expiry of this user was seen already (the subscription was renewed): this one is history.
  const [newer] = await db
    .select({ id: subscriptionRemindersTable.panelUserId })
    .from(subscriptionRemindersTable)
    .where(and(eq(subscriptionRemindersTable.panelUserId, user.id), gt(subscriptionRemindersTable.expireAt, new Date(user.expireAt))))
    .limit(1);
  if (newer) {
    log.info('panel_webhook_stale', { event: event.event, panel_user_id: user.id });
    return { ok: true, stale: true };
  }
  const kick = kicker({ db, queue: c.env.TASKS_QUEUE, registry, config, log });
  const told =
    event.event === 'user.expired' ? await tellExpired({ db, kick }, [user]) : await remindExpiring({ db, kick }, [user], Date.now());
  log.info('panel_webhook', { event: event.event, panel_user_id: user.id, told });
  return { ok: true, told };
}
