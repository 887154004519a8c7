import { cryptoPay } from '../clients/cryptobot';
import type { Config } from '../core/config';
import type { Db } from '../core/db';
import { type Payment, paymentsTable } from './payments.schema';

export interface PaymentRequest {
  remnawaveUserId: number;
  telegramId: number | null;
  plan: string;
  days: number;
  amount: string;
  asset: string;
}

/** Creates the CryptoBot invoice (valid 24 h) and the pending payment that pays it. */
export async function createPayment(db: Db, config: Config, req: PaymentRequest): Promise<Payment> {
  const invoice = await cryptoPay(config).createInvoice({
    asset: req.asset,
    amount: req.amount,
    description: `${req.plan}: ${req.days} days`,
    payload: JSON.stringify({ remnawave_user_id: req.remnawaveUserId, plan: req.plan }),
    expires_in: 24 * 3600,
  });
  const [row] = await db
    .insert(paymentsTable)
    .values({ ...req, invoiceId: invoice.invoice_id, payUrl: invoice.bot_invoice_url ?? invoice.pay_url ?? null })
    .returning();
  return row as Payment;
}
