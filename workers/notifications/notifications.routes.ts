import { createRoute, z } from '@hono/zod-openapi';
import { eq } from 'drizzle-orm';
import { AppError } from '../core/errors';
import { createRouter } from '../core/http';
import { errorSchema, errors, instant, json } from '../core/openapi';
import { kicker } from '../tasks/kick';
import type { TaskRegistry } from '../tasks/task';
import { type Notification, notificationQueueTable, notificationStatuses } from './notifications.schema';
import { queue } from './notifications.service';

const notificationSchema = z
  .object({
    id: z.uuid(),
    telegram_id: z.number().int(),
    type: z.string(),
    status: z.enum(notificationStatuses),
    attempts: z.number().int(),
    scheduled_at: z.string(),
    sent_at: z.string().nullable(),
    message_id: z.number().int().nullable(),
    error_message: z.string().nullable(),
    dedupe_key: z.string().nullable(),
  })
  .openapi('Notification');

const createBody = z.object({
  telegram_id: z.number().int(),
  text: z.string().min(1).max(4096),
  type: z.string().min(1).max(64).default('custom'),
  parse_mode: z.enum(['HTML', 'MarkdownV2']).nullable().default('HTML'),
  scheduled_at: instant().optional(),
  dedupe_key: z.string().min(1).max(200).optional(),
});

const routes = {
  create: createRoute({
    method: 'post',
    path: '/notifications',
    summary: 'Queue a notification; it is sent within seconds through the bot-wide gate',
    security: [{ Bearer: [] }],
    request: { body: { content: { 'application/json': { schema: createBody } }, required: true } },
    responses: { 202: json(notificationSchema, 'Queued (or the row of the same dedupe_key)'), ...errors },
  }),
  get: createRoute({
    method: 'get',
    path: '/notifications/{id}',
    summary: 'One notification',
    security: [{ Bearer: [] }],
    request: { params: z.object({ id: z.uuid() }) },
    responses: { 200: json(notificationSchema, 'The notification'), ...errors, 404: json(errorSchema, 'No such notification') },
  }),
};

/** `/api/notifications`: queue a message to a user and see what became of it. */
export function notificationRoutes(registry: TaskRegistry) {
  return createRouter()
    .openapi(routes.create, async (c) => {
      const body = c.req.valid('json');
      const { db, config, log } = c.var;
      const kick = kicker({ db, queue: c.env.TASKS_QUEUE, registry, config, log });
      const { ids, scheduledAt } = await queue({ db, kick }, [
        {
          telegramId: body.telegram_id,
          type: body.type,
          text: body.text,
          parseMode: body.parse_mode,
          scheduledAt: body.scheduled_at ? new Date(body.scheduled_at) : undefined,
          dedupeKey: body.dedupe_key,
        },
      ]);
      const [id] = ids;
      // Queued now: everything it holds is known, no second round trip to read it back.
      if (id)
        return c.json(
          {
            id,
            telegram_id: body.telegram_id,
            type: body.type,
            status: 'pending' as const,
            attempts: 0,
            scheduled_at: new Date(scheduledAt[0] as string).toISOString(),
            sent_at: null,
            message_id: null,
            error_message: null,
            dedupe_key: body.dedupe_key ?? null,
          },
          202,
        );
      // Its dedupe key was queued before: that row, as it is now.
      const [row] = await db
        .select()
        .from(notificationQueueTable)
        .where(eq(notificationQueueTable.dedupeKey, body.dedupe_key ?? ''));
      if (!row) throw new AppError(404, 'not_found', 'the notification was removed meanwhile');
      return c.json(toJson(row), 202);
    })
    .openapi(routes.get, async (c) => {
      const [row] = await c.var.db
        .select()
        .from(notificationQueueTable)
        .where(eq(notificationQueueTable.id, c.req.valid('param').id));
      if (!row) throw new AppError(404, 'not_found', 'no such notification');
      return c.json(toJson(row), 200);
    });
}

function toJson(n: Notification): z.infer<typeof notificationSchema> {
  return {
    id: n.id,
    telegram_id: n.telegramId,
    type: n.type,
    status: n.status,
    attempts: n.attempts,
    scheduled_at: n.scheduledAt.toISOString(),
    sent_at: n.sentAt?.toISOString() ?? null,
    message_id: n.messageId,
    error_message: n.errorMessage,
    dedupe_key: n.dedupeKey,
  };
}
