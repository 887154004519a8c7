import { z } from 'zod';
import type { Config } from '../core/config';
import { callService, describe, ServiceError } from './http';

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
  createInvoice(params: { asset: string; amount: string; description?: string; payload?: string; expires_in?: number }): Promise<Invoice>;
  /** At most 1,000 per call; `invoice_ids` by id. */
  getInvoices(params: { invoice_ids?: number[]; status?: 'active' | 'paid'; count?: number }): Promise<Invoice[]>;
}

/**
 * The Crypto Pay API (@CryptoBot) at `CRYPTOBOT_API_URL`: 4 s timeouts, retries on 5xx/429, a circuit
 * breaker; an `{ok: false}` answer throws a `ServiceError` carrying the API's error name.
 */
export function cryptoPay(config: Pick<Config, 'CRYPTOBOT_API_URL' | 'CRYPTOBOT_TOKEN'>): CryptoPay {
  if (!config.CRYPTOBOT_TOKEN) throw new ServiceError('cryptobot', 0, 'not_configured', 'CRYPTOBOT_TOKEN is not set');
  const call = async <T>(method: string, params: Record<string, unknown>, schema: z.ZodType<T>): Promise<T> => {
    const res = await callService({
      service: 'cryptobot',
      url: `${config.CRYPTOBOT_API_URL}/${method}`,
      method: 'POST',
      headers: { 'Crypto-Pay-API-Token': config.CRYPTOBOT_TOKEN },
      body: params,
    });
    const parsed = envelope.safeParse(res.body);
    if (!parsed.success) throw new ServiceError('cryptobot', res.status, 'bad_answer', describe(res.body));
    if (!parsed.data.ok) {
      const name = parsed.data.error.name ?? `code ${parsed.data.error.code}`;
      throw new ServiceError('cryptobot', res.status, name, name);
    }
    return schema.parse(parsed.data.result);
  };
  return {
    getMe: () => call('getMe', {}, z.unknown()),
    createInvoice: (params) => call('createInvoice', params, invoiceSchema),
    getInvoices: async ({ invoice_ids, ...rest }) =>
      (
        await call(
          'getInvoices',
          { ...rest, ...(invoice_ids ? { invoice_ids: invoice_ids.join(',') } : {}) },
          z.object({ items: z.array(invoiceSchema) }),
        )
      ).items,
  };
}
