/**
 * A stand-in for the Crypto Pay API of @CryptoBot (https://help.crypt.bot/crypto-pay-api) for tests and local
 * runs: the invoice methods the product calls with the real envelope and auth, invoices that expire, and a
 * control API under /__control/ to pay invoices (which POSTs the signed `invoice_paid` webhook), inject failures
 * and inspect calls.
 *
 * Failures on demand (`failNext`) look like what a client meets in production: 429 and 500 come from the API
 * itself as JSON envelopes (`TOO_MANY_REQUESTS`, `APP_ERROR`), 502 and 503 from the nginx in front of it as
 * HTML pages. `down` drops connections without an answer.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { closeOnSignals, listen } from '../standin-server.ts';
import { parseParams, readBody } from './body.ts';
import type { PayResult } from './control.ts';
import { handleControl, payInvoice } from './control.ts';
import type { ApiReply } from './methods.ts';
import { dispatch, errorReply } from './methods.ts';
import type { Call, CryptoBotConfigPatch, CryptoBotStandInOptions, FailStatus, Invoice, State, WebhookDelivery } from './state.ts';
import { configure, createState, invoiceView, now, reset } from './state.ts';

export type { PayResult } from './control.ts';
export type { Call, CryptoBotConfigPatch, CryptoBotStandInOptions, FailStatus, Invoice, WebhookDelivery } from './state.ts';
export { CRYPTOBOT_TEST_TOKEN } from './state.ts';
export type { InvoicePaidUpdate } from './webhook.ts';
export { buildInvoicePaidUpdate, signCryptoPayBody } from './webhook.ts';

/** A running stand-in. */
export interface CryptoBotStandIn {
  /** Base URL of the methods, e.g. `http://127.0.0.1:40123/api`: the value for CRYPTOBOT_API_URL. */
  readonly url: string;
  /** Origin of the server; the control API lives under `${origin}/__control/`. */
  readonly origin: string;
  /** Every API request in order (live array; `reset` empties it in place). */
  readonly calls: Call[];
  /** Every webhook POST in order (live array). */
  readonly webhooks: WebhookDelivery[];
  /** All invoices as getInvoices would show them now, oldest first. */
  invoices(): Invoice[];
  /** Same as `POST /__control/pay`; rejects with the control error when the invoice cannot be paid. */
  pay(
    invoiceId: number,
    opts?: { paid_asset?: string; paid_amount?: string; comment?: string; times?: number; forge?: boolean },
  ): Promise<PayResult>;
  /** Moves the stand-in's clock forward, in seconds. */
  advance(seconds: number): void;
  configure(patch: CryptoBotConfigPatch): void;
  /** Forgets invoices, balances, calls, webhooks, failNext, down and the clock offset; keeps options and ids. */
  reset(): void;
  /** Stops listening and drops every connection, keep-alive ones included. */
  close(): Promise<void>;
}

/** What nginx in front of the API sends for 502 and 503. */
function nginxPage(status: 502 | 503): string {
  const title = status === 502 ? '502 Bad Gateway' : '503 Service Temporarily Unavailable';
  return `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`;
}

function failureReply(status: FailStatus): ApiReply | { status: 502 | 503; html: string } {
  if (status === 502 || status === 503) return { status, html: nginxPage(status) };
  return errorReply(status, status === 429 ? 'TOO_MANY_REQUESTS' : 'APP_ERROR');
}

function latencyMs(state: State): number {
  const l = state.settings.latencyMs;
  if (typeof l === 'number') return Math.max(0, l);
  return Math.max(0, l.min + Math.random() * Math.max(0, l.max - l.min));
}

function write(res: ServerResponse, status: number, contentType: string, text: string): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** Decides the answer to one API request, records it, then waits out the latency. Undefined: drop the connection. */
async function handleApi(state: State, req: IncomingMessage, url: URL, signal: AbortSignal) {
  const method = url.pathname.slice('/api/'.length);
  const call: Call = { seq: ++state.seq, method, params: {}, status: 0, at: Date.now() };
  state.calls.push(call);
  if (state.settings.down) return undefined;
  const body = await readBody(req);
  let reply: ApiReply | { status: 502 | 503; html: string };
  const fail = state.settings.failNext?.count ? state.settings.failNext : undefined;
  if (fail) {
    fail.count -= 1;
    if (fail.count === 0) state.settings.failNext = undefined;
  }
  if (fail && !fail.after) {
    reply = failureReply(fail.status);
  } else if (req.headers['crypto-pay-api-token'] !== state.settings.token) {
    reply = errorReply(401, 'UNAUTHORIZED');
  } else {
    try {
      call.params = parseParams(req.headers['content-type'], body, url.searchParams);
      reply = dispatch(state, method, call.params);
    } catch {
      reply = errorReply(400, 'PARAMS_INVALID');
    }
    if (fail) reply = failureReply(fail.status);
  }
  call.status = reply.status;
  if ('body' in reply && !reply.body.ok) call.error = reply.body.error.name;
  const delay = latencyMs(state);
  if (delay > 0) {
    try {
      await sleep(delay, undefined, { signal });
    } catch {
      return undefined; // closing: the socket is about to be destroyed
    }
  }
  return reply;
}

/** Starts the stand-in. Defaults: free port on 127.0.0.1, token {@link CRYPTOBOT_TEST_TOKEN}, no latency, no webhook. */
export async function startCryptoBotStandIn(opts: Partial<CryptoBotStandInOptions> = {}): Promise<CryptoBotStandIn> {
  const state = createState(opts);
  const server = await listen((req, res, signal) => {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    let work: Promise<void>;
    if (url.pathname.startsWith('/__control/')) {
      work = readBody(req)
        .then((body) => handleControl(state, req.method ?? 'GET', url.pathname, url.searchParams, body))
        .then((r) => write(res, r.status, 'application/json', JSON.stringify(r.body)));
    } else if (url.pathname.startsWith('/api/') && (req.method === 'GET' || req.method === 'POST')) {
      work = handleApi(state, req, url, signal).then((r) => {
        if (!r) res.destroy();
        else if ('html' in r) write(res, r.status, 'text/html', r.html);
        else write(res, r.status, 'application/json', JSON.stringify(r.body));
      });
    } else {
      work = Promise.resolve(write(res, 404, 'text/html', '<html><head><title>404 Not Found</title></head></html>\r\n'));
    }
    work.catch((e: unknown) => {
      if (res.headersSent) res.destroy();
      else write(res, 500, 'application/json', JSON.stringify({ ok: false, error: { code: 500, name: 'APP_ERROR' }, detail: String(e) }));
    });
  }, opts);
  return {
    url: `${server.origin}/api`,
    origin: server.origin,
    calls: state.calls,
    webhooks: state.webhooks,
    invoices: () => [...state.invoices.values()].map((inv) => invoiceView(inv, now(state))),
    pay: async (invoiceId, payOpts = {}) => {
      const r = await payInvoice(state, { ...payOpts, invoice_id: invoiceId });
      if (r.status !== 200) throw new Error(`pay ${invoiceId}: ${(r.body as { error: string }).error}`);
      return r.body as PayResult;
    },
    advance: (seconds) => {
      state.clockOffsetMs += seconds * 1000;
    },
    configure: (patch) => configure(state, patch),
    reset: () => reset(state),
    close: server.close,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '8082' },
      host: { type: 'string' },
      token: { type: 'string' },
      latency: { type: 'string' },
      webhook: { type: 'string' },
    },
  });
  const opts: Partial<CryptoBotStandInOptions> = { port: Number(values.port) };
  if (values.host !== undefined) opts.host = values.host;
  if (values.token !== undefined) opts.token = values.token;
  if (values.latency !== undefined) opts.latencyMs = Number(values.latency);
  if (values.webhook !== undefined) opts.webhookUrl = values.webhook;
  const standIn = await startCryptoBotStandIn(opts);
  console.log(`cryptobot stand-in listening on ${standIn.url} (control API at ${standIn.origin}/__control/)`);
  closeOnSignals(standIn);
}

if (import.meta.main) await main();
