import { cryptoPay } from '../clients/cryptobot';
import type { Config } from '../core/config';
import type { Db } from '../core/db';
import { findPaymentByInvoice } from './payments.repo';
import { type Payment, paymentsTable } from './payments.schema';

export interface PaymentRequest {
  remnawaveUserId: number;
  telegramId: number | null;
  plan: string;
  days: number;
  amount: string;
  asset: string;
}

export interface PaymentOptions {
  /**
   * What makes this invoice the one meant (kept in its payload): a retry with the same reference finds
   * the invoice an earlier try made instead of making another. Default a fresh random one.
   */
  ref?: string;
  /** Look for the invoice of `ref` before creating it: this is a retry. Default false */
  retry?: boolean;
  /** Ends the provider calls when the caller's time is up (a task run's signal). */
  signal?: AbortSignal;
}

/**
 * Creates the CryptoBot invoice (valid 24 h) and the pending payment that pays it; an invoice is
 * created at most once per `ref`, however often the provider call or its caller is retried.
 */
export async function createPayment(db: Db, config: Config, req: PaymentRequest, opts: PaymentOptions = {}): Promise<Payment> {
  const invoice = await cryptoPay(config, { signal: opts.signal }).createInvoice(
    {
      asset: req.asset,
      amount: req.amount,
      description: `${req.plan}: ${req.days} days`,
      payload: JSON.stringify({ remnawave_user_id: req.remnawaveUserId, plan: req.plan, ref: opts.ref ?? crypto.randomUUID() }),
      expires_in: 24 * 3600,
    },
    { lookupFirst: opts.retry },
  );
  const [row] = await db
    .insert(paymentsTable)
    .values({ ...req, invoiceId: invoice.invoice_id, payUrl: invoice.bot_invoice_url ?? invoice.pay_url ?? null })
    .onConflictDoNothing()
    .returning();
  // An earlier try stored it already.
  return row ?? ((await findPaymentByInvoice(db, invoice.invoice_id)) as Payment);
}
