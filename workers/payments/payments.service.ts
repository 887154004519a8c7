import { cryptoPay, type Invoice } from '../clients/cryptobot';
import { ServiceError } from '../clients/http';
import type { Config } from '../core/config';
import type { Db } from '../core/db';
import { DomainError } from '../core/errors';
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
  let invoice: Invoice;
  try {
    invoice = await cryptoPay(config, { signal: opts.signal }).createInvoice(
      {
        asset: req.asset,
        amount: req.amount,
        description: `${req.plan}: ${req.days} days`,
        payload: JSON.stringify({ remnawave_user_id: req.remnawaveUserId, plan: req.plan, ref: opts.ref ?? crypto.randomUUID() }),
        expires_in: 24 * 3600,
      },
      { lookupFirst: opts.retry },
    );
  } catch (err) {
    throw refusalOf(err);
  }
  const [row] = await db
    .insert(paymentsTable)
    .values({ ...req, invoiceId: invoice.invoice_id, payUrl: invoice.bot_invoice_url ?? invoice.pay_url ?? null })
    .onConflictDoNothing()
    .returning();
  // An earlier try stored it already.
  return row ?? ((await findPaymentByInvoice(db, invoice.invoice_id)) as Payment);
}

/** A Crypto Pay failure as the payment's refusal: payments not set up, CryptoBot unavailable (try again), or the invoice refused. */
function refusalOf(err: unknown): unknown {
  if (!(err instanceof ServiceError)) return err;
  if (err.code === 'not_configured') return new DomainError('unavailable', 'payments_not_configured', 'payments are not set up here');
  if (err.retryable) return new DomainError('unavailable', 'provider_unavailable', 'CryptoBot is unavailable; try again');
  return new DomainError('refused', 'provider_refused', `CryptoBot refused the invoice: ${err.code}`);
}
