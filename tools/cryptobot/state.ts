import { randomBytes } from 'node:crypto';
import type { Asset, Fiat } from './currencies.ts';
import { ASSETS } from './currencies.ts';

/** A token shaped like the real ones (`<app_id>:<secret>`); the stand-in accepts only this unless told otherwise. */
export const CRYPTOBOT_TEST_TOKEN = '12345:AAStandInTokenForCryptoPayApi0000000';

/** Statuses `failNext` can answer with. */
export type FailStatus = 429 | 500 | 502 | 503;

/** Options of the stand-in; all but `port` and `host` can be changed at runtime through `configure`. */
export interface CryptoBotStandInOptions {
  /** Port to listen on; 0 picks a free one. Default 0. */
  port: number;
  /** Interface to bind. Default '127.0.0.1'. */
  host: string;
  /** The only API token accepted (`Crypto-Pay-API-Token`); also the webhook signing secret. Default {@link CRYPTOBOT_TEST_TOKEN}. */
  token: string;
  /** Delay before every API answer, in ms; a range picks uniformly per request. Default 0. */
  latencyMs: number | { min: number; max: number };
  /** Where `invoice_paid` updates are POSTed, as set in the app's settings in @CryptoBot. Default none. */
  webhookUrl: string | undefined;
  /**
   * The next `count` API requests answer `status` instead, whatever they ask. With `after`, each is
   * carried out first and only its answer is lost (a gateway that failed after the API acted: the
   * invoice exists, the client cannot know it). Default none.
   */
  failNext: { status: FailStatus; count: number; after?: boolean } | undefined;
  /** While true, every API connection is dropped without an answer (the control API keeps working). Default false. */
  down: boolean;
}

/** The runtime-changeable part of the options; `null` clears `webhookUrl` and `failNext` (for JSON callers). */
export type CryptoBotConfigPatch = {
  [K in Exclude<keyof CryptoBotStandInOptions, 'port' | 'host'>]?: CryptoBotStandInOptions[K] | null;
};

/** An Invoice as the API returns it (help.crypt.bot/crypto-pay-api#Invoice); absent optional fields are omitted. */
export interface Invoice {
  invoice_id: number;
  hash: string;
  currency_type: 'crypto' | 'fiat';
  asset?: Asset;
  fiat?: Fiat;
  amount: string;
  paid_asset?: Asset;
  paid_amount?: string;
  paid_fiat_rate?: string;
  accepted_assets?: Asset[];
  fee_asset?: Asset;
  fee_amount?: string;
  /** Deprecated by the API in favour of `bot_invoice_url`, still sent. */
  pay_url: string;
  bot_invoice_url: string;
  mini_app_invoice_url: string;
  web_app_invoice_url: string;
  description?: string;
  status: 'active' | 'paid' | 'expired';
  created_at: string;
  paid_usd_rate?: string;
  allow_comments: boolean;
  allow_anonymous: boolean;
  expiration_date?: string;
  paid_at?: string;
  paid_anonymously?: boolean;
  comment?: string;
  hidden_message?: string;
  payload?: string;
  paid_btn_name?: string;
  paid_btn_url?: string;
}

/** What the stand-in keeps per invoice: the creation fields plus the payment, if any. */
export interface StoredInvoice {
  fields: Omit<Invoice, 'status' | 'expiration_date' | 'created_at'>;
  /** Epoch ms on the stand-in's clock. */
  createdAt: number;
  expiresAt?: number;
  /** The `invoice_paid` update as first sent, so redeliveries are byte-identical. */
  paid?: { body: string; updateId: number };
}

/** One request under /api/, whatever its outcome. */
export interface Call {
  /** Position in the stand-in's event order, shared with webhook deliveries; never restarts. */
  seq: number;
  method: string;
  params: Record<string, unknown>;
  /** HTTP status of the answer; 0 when `down` dropped the connection. */
  status: number;
  /** The error `name` of a failed answer. */
  error?: string;
  /** Epoch ms (real clock). */
  at: number;
}

/** One webhook POST. */
export interface WebhookDelivery {
  seq: number;
  update_id: number;
  invoice_id: number;
  /** True when the signature was deliberately wrong (`forge`). */
  forged: boolean;
  /** HTTP status of the receiver's answer; 0 when the request failed. */
  status: number;
  /** Response text, or the network error. */
  body: string;
  at: number;
}

export interface State {
  settings: Omit<CryptoBotStandInOptions, 'port' | 'host'>;
  invoices: Map<number, StoredInvoice>;
  /** Available balance per asset, in units. */
  balances: Map<Asset, number>;
  calls: Call[];
  webhooks: WebhookDelivery[];
  seq: number;
  /** Last invoice_id and update_id handed out; kept across `reset` so ids never repeat within a run. */
  lastInvoiceId: number;
  lastUpdateId: number;
  /** Added to the real clock: `advance` moves it so expiry can be tested without waiting. */
  clockOffsetMs: number;
}

export function createState(opts: Partial<CryptoBotStandInOptions>): State {
  const state: State = {
    settings: { token: CRYPTOBOT_TEST_TOKEN, latencyMs: 0, webhookUrl: undefined, failNext: undefined, down: false },
    invoices: new Map(),
    balances: new Map(ASSETS.map((a) => [a, 0])),
    calls: [],
    webhooks: [],
    seq: 0,
    lastInvoiceId: 0,
    lastUpdateId: 0,
    clockOffsetMs: 0,
  };
  const { port: _port, host: _host, ...patch } = opts;
  configure(state, patch);
  return state;
}

/** Applies a partial option set; unknown keys are ignored. */
export function configure(state: State, patch: CryptoBotConfigPatch): void {
  const s = state.settings;
  if (typeof patch.token === 'string' && patch.token !== '') s.token = patch.token;
  if (patch.latencyMs !== undefined && patch.latencyMs !== null) s.latencyMs = patch.latencyMs;
  if (patch.webhookUrl !== undefined) s.webhookUrl = patch.webhookUrl ?? undefined;
  if (patch.failNext !== undefined) s.failNext = patch.failNext ? { ...patch.failNext } : undefined;
  if (patch.down !== undefined) s.down = patch.down === true;
}

/**
 * Forgets invoices, balances, calls, webhook deliveries, `failNext`, `down` and the clock offset. Options, ids
 * and `seq` survive, so ids stay unique and `since_seq` polling keeps working.
 */
export function reset(state: State): void {
  state.invoices.clear();
  for (const a of ASSETS) state.balances.set(a, 0);
  state.calls.length = 0;
  state.webhooks.length = 0;
  state.settings.failNext = undefined;
  state.settings.down = false;
  state.clockOffsetMs = 0;
}

/** The stand-in's clock, epoch ms. */
export function now(state: State): number {
  return Date.now() + state.clockOffsetMs;
}

/** Invoice hashes look like the real ones: `IV` and ten letters or digits. */
export function newHash(): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  return `IV${[...randomBytes(10)].map((b) => alphabet[b % alphabet.length]).join('')}`;
}

/** The invoice as the API shows it at `at`: an active invoice past its expiration date reads as expired. */
export function invoiceView(inv: StoredInvoice, at: number): Invoice {
  const status = inv.fields.paid_at !== undefined ? 'paid' : inv.expiresAt !== undefined && at >= inv.expiresAt ? 'expired' : 'active';
  const view: Invoice = { ...inv.fields, status, created_at: new Date(inv.createdAt).toISOString() };
  if (inv.expiresAt !== undefined) view.expiration_date = new Date(inv.expiresAt).toISOString();
  return view;
}

/** The API omits absent optional fields rather than sending nulls. */
export function withoutUndefined<T extends object>(fields: T): T {
  return Object.fromEntries(Object.entries(fields).filter(([, v]) => v !== undefined)) as T;
}
