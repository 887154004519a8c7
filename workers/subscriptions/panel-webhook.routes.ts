import { RemnawaveWebhookEventSchema } from '@remnawave/backend-contract';
import { Hono } from 'hono';
import { AppError } from '../core/errors';
import type { AppEnv } from '../core/http';
import { hmacSha256Hex, secretsEqual } from '../core/secrets';
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
    const raw = await c.req.text();
    const expected = await hmacSha256Hex(config.REMNAWAVE_WEBHOOK_SECRET, raw);
    if (!secretsEqual(expected, (c.req.header('x-remnawave-signature') ?? '').toLowerCase())) {
      log.warn('panel_webhook_refused', { reason: 'bad signature' });
      throw new AppError(401, 'unauthorized', 'wrong signature');
    }
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      throw AppError.badRequest('body', 'malformed JSON');
    }
    const parsed = RemnawaveWebhookEventSchema.safeParse(body);
    if (!parsed.success)
      throw AppError.badRequest(parsed.error.issues[0]?.path.join('.') || 'body', parsed.error.issues[0]?.message ?? 'invalid event');
    const event = parsed.data;
    if (event.scope === 'node' && (event.event === 'node.connection_lost' || event.event === 'node.connection_restored')) {
      const status = event.event === 'node.connection_lost' ? 'offline' : 'online';
      const result = await observeNode({ db, api: createApi(config, c.env), config, log }, event.data, status, 'webhook');
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
