import { env } from 'cloudflare:workers';
import { createHash, createHmac } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { paymentsTable } from '../payments/payments.schema';
import { withTestDb } from './db';
import { call, callApi, json } from './http';
import { poll } from './poll';

let nextPanelUser = 70_000 + Math.floor(Math.random() * 900) * 10;

/** A payment through the admin API for a new panel user, paid at the Crypto Pay stand-in. */
export async function paidInvoice(): Promise<{
  id: string;
  invoiceId: number;
  update: { payload: Record<string, unknown> } & Record<string, unknown>;
}> {
  const userId = ++nextPanelUser;
  await fetch(`${env.REMNAWAVE_URL}/__control/users`, {
    method: 'POST',
    body: JSON.stringify({
      id: userId,
      username: `pay_${userId}`,
      expireAt: new Date(Date.now() + 86_400_000).toISOString(),
      status: 'ACTIVE',
    }),
  });
  const created = await callApi('/payments', {
    body: { remnawave_user_id: userId, plan: 'month', days: 30, amount: '4.99', asset: 'USDT' },
  });
  if (created.status !== 201) throw new Error(`payment not created: HTTP ${created.status}`);
  const payment = await json<{ id: string; invoice_id: number }>(created);
  const paid = await fetch(`${env.CRYPTOBOT_API_URL.replace(/\/api$/, '')}/__control/pay`, {
    method: 'POST',
    body: JSON.stringify({ invoice_id: payment.invoice_id }),
  });
  const { update } = (await paid.json()) as { update: { payload: Record<string, unknown> } & Record<string, unknown> };
  return { id: payment.id, invoiceId: payment.invoice_id, update };
}

/** Posts a Crypto Pay update signed as Crypto Pay signs it (node:crypto, not the product's code). */
export function postCryptoPayUpdate(body: string | Uint8Array): Promise<Response> {
  const signature = createHmac('sha256', createHash('sha256').update(env.CRYPTOBOT_TOKEN).digest()).update(body).digest('hex');
  return call('/webhooks/cryptobot', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'crypto-pay-api-signature': signature },
    body,
  });
}

/** Waits until the payment is `status`. */
export function paymentReaches(id: string, status: string): Promise<true> {
  return poll(
    async () => {
      const [row] = await withTestDb((db) =>
        db.select({ status: paymentsTable.status }).from(paymentsTable).where(eq(paymentsTable.id, id)),
      );
      return row?.status === status ? true : undefined;
    },
    { what: `payment ${status}`, timeoutMs: 15_000 },
  );
}
