import { createRoute, z } from '@hono/zod-openapi';
import { eq } from 'drizzle-orm';
import { Hono } from 'hono';
import { invoiceSchema } from '../clients/cryptobot';
import { AppError } from '../core/errors';
import { type AppEnv, createRouter, limitBody, PROVIDER_WEBHOOK_MAX_BYTES, signedJson } from '../core/http';
import { errorSchema, errors, json } from '../core/openapi';
import { sha256 } from '../core/secrets';
import { kicker } from '../tasks/kick';
import type { TaskRegistry } from '../tasks/task';
import { logWebhook } from './payments.repo';
import { type Payment, paymentStatuses, paymentsTable } from './payments.schema';
import { createPayment } from './payments.service';

const updateSchema = z.object({
  update_id: z.number().int(),
  update_type: z.string(),
  request_date: z.string().optional(),
  payload: invoiceSchema,
});

/**
 * `POST /webhooks/cryptobot`: Crypto Pay's `invoice_paid` updates. The signature
 * (`crypto-pay-api-signature`: HMAC-SHA256 of the raw body under SHA-256 of the API token) is checked
 * in constant time over the raw bytes, after the size cap (413) and before anything is parsed (401,
 * nothing stored); the update is logged once per invoice and completion is kicked with the invoice
 * as its idempotency key, so redeliveries change nothing.
 */
export function paymentWebhookRoutes(registry: TaskRegistry) {
  return new Hono<AppEnv>().post('/cryptobot', limitBody(PROVIDER_WEBHOOK_MAX_BYTES), async (c) => {
    const { config, db, log } = c.var;
    if (!config.CRYPTOBOT_TOKEN) throw new AppError(404, 'not_found', 'payments are not configured');
    const update = await signedJson(c, {
      key: await sha256(config.CRYPTOBOT_TOKEN),
      header: 'crypto-pay-api-signature',
      schema: updateSchema,
      refusedEvent: 'payment_webhook_refused',
      what: 'update',
    });
    if (update.update_type !== 'invoice_paid') return c.json({ ok: true, ignored: update.update_type });
    const invoiceId = update.payload.invoice_id;
    const { log: entry, fresh } = await logWebhook(db, 'cryptobot', String(invoiceId), update);
    if (!fresh) log.info('payment_webhook_duplicate', { invoice_id: invoiceId });
    // Kicked again for a redelivery that is not processed yet: the key returns the same run.
    if (!entry?.processedAt) {
      const kick = kicker({ db, queue: c.env.TASKS_QUEUE, registry, config, log });
      await kick('process_payment_completion', { invoice_id: invoiceId }, { idempotencyKey: `payment:${invoiceId}` });
    }
    return c.json({ ok: true, duplicate: !fresh });
  });
}

const paymentSchema = z
  .object({
    id: z.uuid(),
    invoice_id: z.number().int(),
    telegram_id: z.number().int().nullable(),
    remnawave_user_id: z.number().int(),
    plan: z.string(),
    days: z.number().int(),
    amount: z.string(),
    asset: z.string(),
    pay_url: z.string().nullable(),
    status: z.enum(paymentStatuses),
    error: z.string().nullable(),
    created_at: z.string(),
    completed_at: z.string().nullable(),
  })
  .openapi('Payment');

const createBody = z.object({
  /** The panel's user id (a Postgres `integer`). */
  remnawave_user_id: z.number().int().positive().max(2_147_483_647),
  telegram_id: z.number().int().optional(),
  plan: z.string().min(1).max(64),
  days: z.number().int().min(1).max(3650),
  amount: z
    .string()
    .regex(/^\d+(\.\d{1,8})?$/, 'a decimal string such as "4.99"')
    .refine((a) => Number(a) > 0, 'more than zero'),
  asset: z.enum(['USDT', 'TON', 'BTC', 'ETH', 'LTC', 'BNB', 'TRX', 'USDC']),
  idempotency_key: z.string().min(1).max(128).optional().openapi({
    description: 'A request sent again with the same key (after a timeout, say) answers the payment the first made: one invoice',
  }),
});

const routes = {
  create: createRoute({
    method: 'post',
    path: '/payments',
    summary: 'Create a CryptoBot invoice for a subscription; paying it extends the panel user by `days`',
    security: [{ Bearer: [] }],
    request: { body: { content: { 'application/json': { schema: createBody } }, required: true } },
    responses: {
      201: json(paymentSchema, 'The pending payment with its pay_url'),
      ...errors,
      422: json(errorSchema, 'CryptoBot refused the invoice'),
      503: json(errorSchema, 'Payments not set up here, or CryptoBot unavailable'),
    },
  }),
  get: createRoute({
    method: 'get',
    path: '/payments/{id}',
    summary: 'One payment',
    security: [{ Bearer: [] }],
    request: { params: z.object({ id: z.uuid() }) },
    responses: { 200: json(paymentSchema, 'The payment'), ...errors, 404: json(errorSchema, 'No such payment') },
  }),
};

/** `/api/payments`: invoices for subscriptions, and what became of them. */
export function paymentRoutes() {
  return createRouter()
    .openapi(routes.create, async (c) => {
      const body = c.req.valid('json');
      const key = body.idempotency_key;
      const row = await createPayment(
        c.var.db,
        c.var.config,
        {
          remnawaveUserId: body.remnawave_user_id,
          telegramId: body.telegram_id ?? null,
          plan: body.plan,
          days: body.days,
          amount: body.amount,
          asset: body.asset,
        },
        // The key is the invoice's reference: a repeat finds the invoice the first request made.
        key === undefined ? {} : { ref: `api:${key}`, retry: true },
      );
      return c.json(toJson(row as Payment), 201);
    })
    .openapi(routes.get, async (c) => {
      const [row] = await c.var.db
        .select()
        .from(paymentsTable)
        .where(eq(paymentsTable.id, c.req.valid('param').id));
      if (!row) throw new AppError(404, 'not_found', 'no such payment');
      return c.json(toJson(row), 200);
    });
}

function toJson(p: Payment): z.infer<typeof paymentSchema> {
  return {
    id: p.id,
    invoice_id: p.invoiceId,
    telegram_id: p.telegramId,
    remnawave_user_id: p.remnawaveUserId,
    plan: p.plan,
    days: p.days,
    amount: p.amount,
    asset: p.asset,
    pay_url: p.payUrl,
    status: p.status,
    error: p.error,
    created_at: p.createdAt.toISOString(),
    completed_at: p.completedAt?.toISOString() ?? null,
  };
}
