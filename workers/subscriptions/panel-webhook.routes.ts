import { RemnawaveWebhookEventSchema } from '@remnawave/backend-contract';
import { Hono } from 'hono';
import { dashboard } from '../../durable-objects/dashboard/dashboard.do';
import { AppError } from '../core/errors';
import { type AppEnv, signedJson } from '../core/http';
import { createApi } from '../core/telegram';
import { observeNode } from '../monitoring/nodes';
import { kicker } from '../tasks/kick';
import type { TaskRegistry } from '../tasks/task';
import { remindExpiring, tellExpired } from './subscriptions.service';

/**
 * `POST /webhooks/remnawave`: the panel's own events, `X-Remnawave-Signature` (hex HMAC-SHA256 of the
 * raw body under `REMNAWAVE_WEBHOOK_SECRET`) checked in constant time first. `user.expired` and
 * `user.expiration` tell the user right away, through the same once-per-expiry records the jobs use,
 * so a poll that comes later says nothing twice. `node.connection_lost` / `node.connection_restored`
 * feed the node health state machine. Other events are acknowledged.
 */
export function panelWebhookRoutes(registry: TaskRegistry) {
  return new Hono<AppEnv>().post('/remnawave', async (c) => {
    const { config, db, log } = c.var;
    if (!config.REMNAWAVE_WEBHOOK_SECRET) throw new AppError(404, 'not_found', 'panel webhooks are not configured');
    const event = await signedJson(c, {
      key: config.REMNAWAVE_WEBHOOK_SECRET,
      header: 'x-remnawave-signature',
      schema: RemnawaveWebhookEventSchema,
      refusedEvent: 'panel_webhook_refused',
      what: 'event',
    });
    if (event.scope === 'node' && (event.event === 'node.connection_lost' || event.event === 'node.connection_restored')) {
      const status = event.event === 'node.connection_lost' ? 'offline' : 'online';
      const result = await observeNode(
        { db, api: createApi(config, c.env), config, log, onChange: (e) => dashboard(c.env).nodeChanged(e) },
        event.data,
        status,
        'webhook',
      );
      return c.json({ ok: true, status, alerted: result.alerted });
    }
    if (event.scope !== 'user' || (event.event !== 'user.expired' && event.event !== 'user.expiration'))
      return c.json({ ok: true, ignored: event.event });
    const kick = kicker({ db, queue: c.env.TASKS_QUEUE, registry, config, log });
    const user = event.data;
    const told =
      event.event === 'user.expired' ? await tellExpired({ db, kick }, [user]) : await remindExpiring({ db, kick }, [user], Date.now());
    log.info('panel_webhook', { event: event.event, panel_user_id: user.id, told });
    return c.json({ ok: true, told });
  });
}
