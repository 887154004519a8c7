import { createHash, createHmac } from 'node:crypto';
import type { Invoice, State, WebhookDelivery } from './state.ts';

/** The update the API POSTs to the app's webhook when an invoice is paid. */
export interface InvoicePaidUpdate {
  update_id: number;
  update_type: 'invoice_paid';
  /** ISO 8601. */
  request_date: string;
  payload: Invoice & { fee?: string; usd_rate?: string };
}

/** Receivers that hang are given up on after this long, in ms. */
const WEBHOOK_TIMEOUT_MS = 10_000;

/**
 * The `crypto-pay-api-signature` header value: hex HMAC-SHA256 of the raw body, keyed with the raw SHA-256
 * digest of the API token (help.crypt.bot/crypto-pay-api, "Verifying webhook updates").
 */
export function signCryptoPayBody(token: string, rawBody: string): string {
  const secret = createHash('sha256').update(token).digest();
  return createHmac('sha256', secret).update(rawBody).digest('hex');
}

/**
 * The `invoice_paid` update for a paid invoice. The payload also carries the deprecated `fee` and `usd_rate`
 * the real webhook still sends. Defaults: `updateId` = the invoice id, `requestDate` = now.
 */
export function buildInvoicePaidUpdate(invoice: Invoice, opts: { updateId?: number; requestDate?: Date } = {}): InvoicePaidUpdate {
  const payload: InvoicePaidUpdate['payload'] = { ...invoice };
  if (invoice.fee_amount !== undefined) payload.fee = invoice.fee_amount;
  if (invoice.paid_usd_rate !== undefined) payload.usd_rate = invoice.paid_usd_rate;
  return {
    update_id: opts.updateId ?? invoice.invoice_id,
    update_type: 'invoice_paid',
    request_date: (opts.requestDate ?? new Date()).toISOString(),
    payload,
  };
}

/**
 * POSTs `rawBody` to `url` `times` times in a row, one after the other, each signed with `token` (or with a
 * wrong key when `forge` is set), and records every attempt in `state.webhooks`. Failures are recorded, never
 * thrown: the real API does not tell the app either.
 */
export async function deliver(
  state: State,
  url: string,
  rawBody: string,
  ids: { update_id: number; invoice_id: number },
  opts: { times: number; forge: boolean },
): Promise<WebhookDelivery[]> {
  const signature = signCryptoPayBody(opts.forge ? `${state.settings.token}-forged` : state.settings.token, rawBody);
  const out: WebhookDelivery[] = [];
  for (let i = 0; i < opts.times; i++) {
    let status = 0;
    let body: string;
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'crypto-pay-api-signature': signature },
        body: rawBody,
        signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
      });
      status = res.status;
      body = await res.text();
    } catch (e) {
      body = e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e);
    }
    const delivery: WebhookDelivery = { seq: ++state.seq, ...ids, forged: opts.forge, status, body, at: Date.now() };
    state.webhooks.push(delivery);
    out.push(delivery);
  }
  return out;
}
