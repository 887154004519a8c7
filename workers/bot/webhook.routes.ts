import type { Update } from 'grammy/types';
import { Hono } from 'hono';
import { z } from 'zod';
import { AppError } from '../core/errors';
import { type AppEnv, limitBody } from '../core/http';
import { secretsEqual } from '../core/secrets';
import { kicker } from '../tasks/kick';
import type { TaskRegistry } from '../tasks/task';
import { handleUpdate } from './webhook.service';

/** The part of an Update every kind shares; grammY reads the rest. */
const updateSchema = z.looseObject({ update_id: z.number().int().nonnegative() });

/**
 * Largest update accepted, in bytes. Real updates are a few KiB; the largest Telegram can send (a
 * 4,096-character message replying to another, with entities, every character JSON-escaped) stays
 * under 64 KiB. The cap errs high because a refused genuine update is redelivered and holds back the
 * later updates of its chat.
 */
export const UPDATE_MAX_BYTES = 128 * 1024;

/**
 * `POST /telegram/webhook`: Telegram's deliveries, checked by `X-Telegram-Bot-Api-Secret-Token`. The
 * size cap comes first, the secret second, and only then is the body read.
 */
export function webhookRoutes(registry: TaskRegistry) {
  return new Hono<AppEnv>().post('/webhook', limitBody(UPDATE_MAX_BYTES), async (c) => {
    const secret = c.req.header('x-telegram-bot-api-secret-token') ?? '';
    if (!secretsEqual(c.var.config.TELEGRAM_WEBHOOK_SECRET, secret)) {
      throw new AppError(401, 'unauthorized', 'wrong webhook secret');
    }
    let body: unknown;
    try {
      body = await c.req.json();
    } catch {
      throw AppError.badRequest('body', 'malformed JSON');
    }
    const parsed = updateSchema.safeParse(body);
    if (!parsed.success)
      throw AppError.badRequest(parsed.error.issues[0]?.path.join('.') || 'body', parsed.error.issues[0]?.message ?? 'invalid update');
    const { db, config, log } = c.var;
    const kick = kicker({ db, queue: c.env.TASKS_QUEUE, registry, config, log });
    const outcome = await handleUpdate({ env: c.env, db, config, log, kick }, parsed.data as Update);
    return c.json({ ok: true, outcome });
  });
}
