import { z } from 'zod';
import type { Config } from '../core/config';
import { breakerOpenMs, type ClientOptions, callService, describe, ServiceError } from './http';

/** An invoice as the Crypto Pay API returns it (fields the product reads; the rest is kept). */
export const invoiceSchema = z.looseObject({
  invoice_id: z.number().int(),
  status: z.enum(['active', 'paid', 'expired']),
  currency_type: z.string().optional(),
  asset: z.string().optional(),
  amount: z.string(),
  paid_asset: z.string().optional(),
  paid_amount: z.string().optional(),
  paid_at: z.string().optional(),
  payload: z.string().optional(),
  bot_invoice_url: z.string().optional(),
  pay_url: z.string().optional(),
  created_at: z.string(),
});
export type Invoice = z.infer<typeof invoiceSchema>;

const envelope = z.union([
  z.object({ ok: z.literal(true), result: z.unknown() }),
  z.object({ ok: z.literal(false), error: z.looseObject({ code: z.number().optional(), name: z.string().optional() }) }),
]);

export interface CryptoPay {
  /** The app behind the token: a cheap liveness check. */
  getMe(): Promise<unknown>;
  /**
   * Creates an invoice at most once per `payload` (make it unique per invoice meant: put your own
   * reference in it). Crypto Pay takes no idempotency key, so the call is never repeated blindly:
   * after a timeout or a 5xx the invoice may exist, and the active invoices are searched for the
   * payload before creating again (once). `lookupFirst` searches before the first try as well: for a
   * retry of work that may have created it already. Without a payload nothing is tried twice.
   */
  createInvoice(
    params: { asset: string; amount: string; description?: string; payload?: string; expires_in?: number },
    opts?: { lookupFirst?: boolean },
  ): Promise<Invoice>;
  /** At most 1,000 per call; `invoice_ids` by id. */
  getInvoices(params: { invoice_ids?: number[]; status?: 'active' | 'paid'; count?: number }): Promise<Invoice[]>;
}

/** Most active invoices one search for a payload reads (one `getInvoices` page). */
const SEARCH_COUNT = 1000;

/**
 * The Crypto Pay API (@CryptoBot) at `CRYPTOBOT_API_URL`: 4 s timeouts, retries on 5xx/429 (invoice
 * creation: see `createInvoice`), a circuit breaker, and `opts.signal` (a task run's) ending every call;
 * an `{ok: false}` answer throws a `ServiceError` carrying the API's error name.
 */
export function cryptoPay(
  config: Pick<Config, 'CRYPTOBOT_API_URL' | 'CRYPTOBOT_TOKEN'> & Partial<Pick<Config, 'BREAKER_OPEN_SECONDS'>>,
  opts: ClientOptions = {},
): CryptoPay {
  if (!config.CRYPTOBOT_TOKEN) throw new ServiceError('cryptobot', 0, 'not_configured', 'CRYPTOBOT_TOKEN is not set');
  const call = async <T>(method: string, params: Record<string, unknown>, schema: z.ZodType<T>, idempotent = true): Promise<T> => {
    const res = await callService({
      service: 'cryptobot',
      url: `${config.CRYPTOBOT_API_URL}/${method}`,
      method: 'POST',
      headers: { 'Crypto-Pay-API-Token': config.CRYPTOBOT_TOKEN },
      body: params,
      idempotent,
      signal: opts.signal,
      breakerOpenMs: breakerOpenMs(config),
    });
    const parsed = envelope.safeParse(res.body);
    if (!parsed.success) throw new ServiceError('cryptobot', res.status, 'bad_answer', describe(res.body));
    if (!parsed.data.ok) {
      const name = parsed.data.error.name ?? `code ${parsed.data.error.code}`;
      throw new ServiceError('cryptobot', res.status, name, name);
    }
    return schema.parse(parsed.data.result);
  };
  const getInvoices: CryptoPay['getInvoices'] = async ({ invoice_ids, ...rest }) =>
    (
      await call(
        'getInvoices',
        { ...rest, ...(invoice_ids ? { invoice_ids: invoice_ids.join(',') } : {}) },
        z.object({ items: z.array(invoiceSchema) }),
      )
    ).items;
  const withPayload = async (payload: string) =>
    (await getInvoices({ status: 'active', count: SEARCH_COUNT })).find((inv) => inv.payload === payload);
  return {
    getMe: () => call('getMe', {}, z.unknown()),
    createInvoice: async (params, { lookupFirst = false } = {}) => {
      const { payload } = params;
      if (lookupFirst && payload !== undefined) {
        const found = await withPayload(payload);
        if (found) return found;
      }
      for (let attempt = 1; ; attempt++) {
        try {
          return await call('createInvoice', params, invoiceSchema, false);
        } catch (err) {
          if (!(err instanceof ServiceError && err.retryable) || payload === undefined || attempt >= 2) throw err;
          const found = await withPayload(payload);
          if (found) return found;
        }
      }
    },
    getInvoices,
  };
}
