import type { ControlReply, ControlRoutes } from '../standin/control.ts';
import { sinceSeq } from '../standin/control.ts';
import type { Params } from './body.ts';
import { bool, int, str } from './body.ts';
import type { Asset } from './currencies.ts';
import { assetDecimals, formatAmount, isAsset, rate } from './currencies.ts';
import type { CryptoBotConfigPatch, Invoice, State, WebhookDelivery } from './state.ts';
import { configure, invoiceView, now, reset, withoutUndefined } from './state.ts';
import type { InvoicePaidUpdate } from './webhook.ts';
import { buildInvoicePaidUpdate, deliver } from './webhook.ts';

/** What `POST /__control/pay` answers. */
export interface PayResult {
  invoice: Invoice;
  update: InvoicePaidUpdate;
  /** One per webhook POST; empty when no `webhookUrl` is configured. */
  deliveries: WebhookDelivery[];
}

/** Crypto Pay's service fee, charged in the paid asset. */
const FEE_RATE = 0.03;
/** Most webhook copies one control call may ask for. */
const MAX_TIMES = 100;
const FAIL_STATUSES = new Set([429, 500, 502, 503]);

const failure = (status: number, error: string): ControlReply => ({ status, body: { error } });

function currentOptions(state: State): Record<string, unknown> {
  const { token, latencyMs, webhookUrl, failNext, down } = state.settings;
  return { token, latencyMs, webhookUrl: webhookUrl ?? null, failNext: failNext ?? null, down };
}

function deliveryOptions(req: Params): { times: number; forge: boolean } | undefined {
  const times = int(req, 'times') ?? 1;
  return times >= 1 && times <= MAX_TIMES ? { times, forge: bool(req, 'forge', false) } : undefined;
}

/**
 * The control API under `/__control/`:
 * - `GET invoices` → `{ invoices }`, oldest first, as getInvoices would show them now
 * - `GET calls?method=&since_seq=` → `{ calls }`; `GET webhooks?since_seq=` → `{ deliveries }`
 * - `GET config` → current options; `POST config` (a partial `CryptoBotStandInOptions`) → `{ ok, options }`
 * - `POST pay` `{ invoice_id, paid_asset?, paid_amount?, comment?, paid_anonymously?, times?, forge? }` → {@link PayResult}
 * - `POST redeliver` `{ invoice_id, times?, forge? }` → `{ deliveries }`: the same update again, byte for byte
 * - `POST advance` `{ seconds }` → `{ now }`: moves the stand-in's clock forward (expiry, created_at, paid_at)
 * - `POST reset` → `{ ok: true }`
 */
export function controlRoutes(state: State): ControlRoutes {
  return {
    'GET invoices': () => {
      const at = now(state);
      return { status: 200, body: { invoices: [...state.invoices.values()].map((inv) => invoiceView(inv, at)) } };
    },
    'GET calls': ({ query }) => {
      const name = query.get('method');
      const since = sinceSeq(query);
      return { status: 200, body: { calls: state.calls.filter((c) => c.seq > since && (!name || c.method === name)) } };
    },
    'GET webhooks': ({ query }) => {
      const since = sinceSeq(query);
      return { status: 200, body: { deliveries: state.webhooks.filter((d) => d.seq > since) } };
    },
    'GET config': () => ({ status: 200, body: currentOptions(state) }),
    'POST config': (req) => {
      const patch = req.object();
      const failNext = patch.failNext as { status?: unknown; count?: unknown; after?: unknown } | null | undefined;
      if (
        failNext &&
        !(
          FAIL_STATUSES.has(Number(failNext.status)) &&
          Number.isInteger(failNext.count) &&
          [undefined, true, false].includes(failNext.after as boolean)
        )
      ) {
        return failure(400, 'failNext must be { status: 429 | 500 | 502 | 503, count: integer, after?: boolean }');
      }
      configure(state, patch as CryptoBotConfigPatch);
      return { status: 200, body: { ok: true, options: currentOptions(state) } };
    },
    'POST pay': (req) => payInvoice(state, req.object()),
    'POST redeliver': (req) => redeliver(state, req.object()),
    'POST advance': (req) => {
      const seconds = Number(req.object().seconds);
      if (!Number.isFinite(seconds) || seconds < 0) return failure(400, 'seconds must be a number >= 0');
      state.clockOffsetMs += seconds * 1000;
      return { status: 200, body: { now: new Date(now(state)).toISOString() } };
    },
    'POST reset': () => {
      reset(state);
      return { status: 200, body: { ok: true } };
    },
  };
}

/**
 * Marks an active invoice paid as if a user paid it in @CryptoBot: fills the paid fields (3% fee in the paid
 * asset, static rates), credits the balance and, when a webhook URL is set, POSTs the signed `invoice_paid` update.
 * A fiat invoice is paid in `paid_asset` (default: its first accepted asset) at the static rate.
 */
export async function payInvoice(state: State, req: Params): Promise<ControlReply> {
  const id = int(req, 'invoice_id');
  const stored = id === undefined ? undefined : state.invoices.get(id);
  if (!stored) return failure(404, `no invoice ${String(req.invoice_id)}`);
  const at = now(state);
  const status = invoiceView(stored, at).status;
  if (status !== 'active') return failure(409, `invoice ${id} is ${status}`);
  const options = deliveryOptions(req);
  if (!options) return failure(400, `times must be an integer from 1 to ${MAX_TIMES}`);

  const f = stored.fields;
  const requested = str(req, 'paid_asset');
  const asset = f.currency_type === 'crypto' ? f.asset : (requested ?? f.accepted_assets?.[0]);
  if (
    !asset ||
    !isAsset(asset) ||
    (requested !== undefined && requested !== asset) ||
    (f.accepted_assets && !f.accepted_assets.includes(asset))
  ) {
    return failure(400, `invoice ${id} cannot be paid in ${requested}`);
  }
  const fiatRate = f.fiat === undefined ? undefined : rate(asset, f.fiat);
  const decimals = assetDecimals(asset);
  const paidAmount = str(req, 'paid_amount') ?? (fiatRate === undefined ? f.amount : formatAmount(Number(f.amount) / fiatRate, decimals));
  if (!/^\d+(\.\d+)?$/.test(paidAmount)) return failure(400, 'paid_amount must be a decimal string');
  const fee = Number(paidAmount) * FEE_RATE;

  Object.assign(
    f,
    withoutUndefined({
      paid_asset: asset as Asset,
      paid_amount: paidAmount,
      paid_fiat_rate: fiatRate === undefined ? undefined : formatAmount(fiatRate),
      fee_asset: asset as Asset,
      fee_amount: formatAmount(fee, decimals),
      paid_usd_rate: formatAmount(rate(asset, 'USD')),
      paid_at: new Date(at).toISOString(),
      paid_anonymously: f.allow_anonymous && bool(req, 'paid_anonymously', false),
      comment: f.allow_comments ? str(req, 'comment') : undefined,
    }),
  );
  state.balances.set(asset, (state.balances.get(asset) ?? 0) + Number(paidAmount) - fee);
  const invoice = invoiceView(stored, at);
  const update = buildInvoicePaidUpdate(invoice, { updateId: ++state.lastUpdateId, requestDate: new Date(at) });
  stored.paid = { body: JSON.stringify(update), updateId: update.update_id };
  const url = state.settings.webhookUrl;
  const ids = { update_id: update.update_id, invoice_id: invoice.invoice_id };
  const deliveries = url ? await deliver(state, url, stored.paid.body, ids, options) : [];
  const result: PayResult = { invoice, update, deliveries };
  return { status: 200, body: result };
}

async function redeliver(state: State, req: Params): Promise<ControlReply> {
  const id = int(req, 'invoice_id');
  const stored = id === undefined ? undefined : state.invoices.get(id);
  if (!stored?.paid) return failure(404, `no paid invoice ${String(req.invoice_id)}`);
  const url = state.settings.webhookUrl;
  if (!url) return failure(409, 'no webhookUrl is configured');
  const options = deliveryOptions(req);
  if (!options) return failure(400, `times must be an integer from 1 to ${MAX_TIMES}`);
  const ids = { update_id: stored.paid.updateId, invoice_id: stored.fields.invoice_id };
  return { status: 200, body: { deliveries: await deliver(state, url, stored.paid.body, ids, options) } };
}
