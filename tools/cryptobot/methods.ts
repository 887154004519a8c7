import type { Params } from './body.ts';
import { bool, int, list, str } from './body.ts';
import type { Asset, Fiat } from './currencies.ts';
import { ASSETS, currencies, exchangeRates, formatAmount, isAsset, isFiat } from './currencies.ts';
import type { State, StoredInvoice } from './state.ts';
import { invoiceView, newHash, now, withoutUndefined } from './state.ts';

/** The JSON envelope of every API answer. */
export type ApiBody = { ok: true; result: unknown } | { ok: false; error: { code: number; name: string } };

/** An answer and the HTTP status it goes out with (equal to `error.code` on failures). */
export interface ApiReply {
  status: number;
  body: ApiBody;
}

function okReply(result: unknown): ApiReply {
  return { status: 200, body: { ok: true, result } };
}

export function errorReply(code: number, name: string): ApiReply {
  return { status: code, body: { ok: false, error: { code, name } } };
}

const bad = (name: string) => errorReply(400, name);

/** Bot that processes payments; invoice links point at it. */
const PAYMENT_BOT = 'CryptoBot';
const MAX_DESCRIPTION = 1024;
const MAX_HIDDEN_MESSAGE = 2048;
const MAX_PAYLOAD = 4096;
/** Longest `expires_in`, in seconds (31 days). */
const MAX_EXPIRES_IN = 2_678_400;
const MAX_COUNT = 1000;
const PAID_BUTTONS = ['viewItem', 'openChannel', 'openBot', 'callback'];

/** Runs one API method; the caller has already checked the token. Unknown methods answer 405 as the real API does. */
export function dispatch(state: State, method: string, params: Params): ApiReply {
  switch (method) {
    case 'getMe':
      return okReply({
        app_id: Number(state.settings.token.split(':')[0]) || 1,
        name: 'Flarecast Stand-in',
        payment_processing_bot_username: PAYMENT_BOT,
      });
    case 'createInvoice':
      return createInvoice(state, params);
    case 'getInvoices':
      return getInvoices(state, params);
    case 'deleteInvoice':
      return deleteInvoice(state, params);
    case 'getBalance':
      return okReply(ASSETS.map((a) => ({ currency_code: a, available: formatAmount(state.balances.get(a) ?? 0), onhold: '0' })));
    case 'getExchangeRates':
      return okReply(exchangeRates());
    case 'getCurrencies':
      return okReply(currencies());
    default:
      return errorReply(405, 'METHOD_NOT_FOUND');
  }
}

/** A positive decimal given as a string (`"125.50"`) or a JSON number. */
function parseAmount(params: Params): string | undefined {
  const raw = str(params, 'amount')?.trim();
  return raw !== undefined && /^\d+(\.\d+)?$/.test(raw) && Number(raw) > 0 ? raw : undefined;
}

function createInvoice(state: State, params: Params): ApiReply {
  const currencyType = str(params, 'currency_type') ?? 'crypto';
  if (currencyType !== 'crypto' && currencyType !== 'fiat') return bad('CURRENCY_TYPE_INVALID');
  const asset = str(params, 'asset');
  const fiat = str(params, 'fiat');
  const accepted = list(params, 'accepted_assets');
  if (currencyType === 'crypto' && (asset === undefined || !isAsset(asset))) return bad('ASSET_INVALID');
  if (currencyType === 'fiat' && (fiat === undefined || !isFiat(fiat))) return bad('FIAT_INVALID');
  if (currencyType === 'fiat' && accepted && (accepted.length === 0 || !accepted.every(isAsset))) return bad('ACCEPTED_ASSETS_INVALID');
  const amount = parseAmount(params);
  if (amount === undefined) return bad('AMOUNT_INVALID');
  const description = str(params, 'description');
  if (description !== undefined && description.length > MAX_DESCRIPTION) return bad('DESCRIPTION_TOO_LONG');
  const hiddenMessage = str(params, 'hidden_message');
  if (hiddenMessage !== undefined && hiddenMessage.length > MAX_HIDDEN_MESSAGE) return bad('HIDDEN_MESSAGE_TOO_LONG');
  const payload = str(params, 'payload');
  if (payload !== undefined && payload.length > MAX_PAYLOAD) return bad('PAYLOAD_TOO_LONG');
  const button = str(params, 'paid_btn_name');
  const buttonUrl = str(params, 'paid_btn_url');
  if (button !== undefined && !PAID_BUTTONS.includes(button)) return bad('PAID_BTN_NAME_INVALID');
  if (button !== undefined && buttonUrl === undefined) return bad('PAID_BTN_URL_REQUIRED');
  if (buttonUrl !== undefined && !/^https?:\/\/\S+$/.test(buttonUrl)) return bad('PAID_BTN_URL_INVALID');
  const expiresIn = int(params, 'expires_in');
  if (expiresIn !== undefined && !(expiresIn >= 1 && expiresIn <= MAX_EXPIRES_IN)) return bad('EXPIRES_IN_INVALID');

  const createdAt = now(state);
  const invoiceId = ++state.lastInvoiceId;
  const hash = newHash();
  const botUrl = `https://t.me/${PAYMENT_BOT}?start=${hash}`;
  const fields = withoutUndefined<StoredInvoice['fields']>({
    invoice_id: invoiceId,
    hash,
    currency_type: currencyType,
    asset: currencyType === 'crypto' ? (asset as Asset) : undefined,
    fiat: currencyType === 'fiat' ? (fiat as Fiat) : undefined,
    amount,
    accepted_assets: currencyType === 'fiat' ? ((accepted as Asset[] | undefined) ?? [...ASSETS]) : undefined,
    pay_url: botUrl,
    bot_invoice_url: botUrl,
    mini_app_invoice_url: `https://t.me/${PAYMENT_BOT}/app?startapp=invoice-${hash}&mode=compact`,
    web_app_invoice_url: `https://app.cr.bot/invoices/${hash}`,
    description,
    allow_comments: bool(params, 'allow_comments', true),
    allow_anonymous: bool(params, 'allow_anonymous', true),
    hidden_message: hiddenMessage,
    payload,
    paid_btn_name: button,
    paid_btn_url: button === undefined ? undefined : buttonUrl,
  });
  const stored: StoredInvoice = { fields, createdAt };
  if (expiresIn !== undefined) stored.expiresAt = createdAt + expiresIn * 1000;
  state.invoices.set(invoiceId, stored);
  return okReply(invoiceView(stored, createdAt));
}

/** Lists newest first; the docs name no order. */
function getInvoices(state: State, params: Params): ApiReply {
  const asset = str(params, 'asset');
  if (asset !== undefined && !isAsset(asset)) return bad('ASSET_INVALID');
  const fiat = str(params, 'fiat');
  if (fiat !== undefined && !isFiat(fiat)) return bad('FIAT_INVALID');
  const ids = list(params, 'invoice_ids');
  if (ids && !ids.every((id) => /^\d+$/.test(id))) return bad('INVOICE_IDS_INVALID');
  const status = str(params, 'status');
  if (status !== undefined && status !== 'active' && status !== 'paid') return bad('STATUS_INVALID');
  const offset = int(params, 'offset') ?? 0;
  if (!(offset >= 0)) return bad('OFFSET_INVALID');
  const count = int(params, 'count') ?? 100;
  if (!(count >= 1 && count <= MAX_COUNT)) return bad('COUNT_INVALID');

  const at = now(state);
  const wanted = ids ? new Set(ids.map(Number)) : undefined;
  const items = [...state.invoices.values()]
    .map((inv) => invoiceView(inv, at))
    .filter(
      (inv) =>
        (!wanted || wanted.has(inv.invoice_id)) &&
        (asset === undefined || inv.asset === asset) &&
        (fiat === undefined || inv.fiat === fiat) &&
        (status === undefined || inv.status === status),
    )
    .sort((a, b) => b.invoice_id - a.invoice_id)
    .slice(offset, offset + count);
  return okReply({ items });
}

function deleteInvoice(state: State, params: Params): ApiReply {
  const id = int(params, 'invoice_id');
  if (id === undefined || Number.isNaN(id)) return bad('INVOICE_ID_INVALID');
  if (!state.invoices.delete(id)) return bad('INVOICE_NOT_FOUND');
  return okReply(true);
}
