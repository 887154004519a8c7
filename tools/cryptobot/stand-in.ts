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
import type { IncomingMessage } from 'node:http';
import { parseParams } from '../standin/body.ts';
import { runCli } from '../standin/cli.ts';
import { drawLatencyMs, pause } from '../standin/latency.ts';
import { type HttpReply, nginxPage, startServer } from '../standin/server.ts';
import { MAX_BODY_BYTES } from './body.ts';
import type { PayResult } from './control.ts';
import { controlRoutes, payInvoice } from './control.ts';
import type { ApiBody } from './methods.ts';
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

/** What `failNext` answers: the API's own envelope for 429 and 500, nginx's page for 502 and 503. */
function failureReply(status: FailStatus): HttpReply {
  return status === 502 || status === 503 ? nginxPage(status) : errorReply(status, status === 429 ? 'TOO_MANY_REQUESTS' : 'APP_ERROR');
}

/** Decides the answer to one API request, records it, then waits out the latency. Undefined: drop the connection. */
async function serveApi(state: State, req: IncomingMessage, url: URL, body: Buffer, signal: AbortSignal): Promise<HttpReply | undefined> {
  if (!url.pathname.startsWith('/api/') || (req.method !== 'GET' && req.method !== 'POST')) {
    return { status: 404, html: '<html><head><title>404 Not Found</title></head></html>\r\n' };
  }
  const method = url.pathname.slice('/api/'.length);
  const call: Call = { seq: ++state.seq, method, params: {}, status: 0, at: Date.now() };
  state.calls.push(call);
  if (state.settings.down) return undefined;
  let reply: HttpReply;
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
  const answer = reply.body as ApiBody | undefined;
  if (answer?.ok === false) call.error = answer.error.name;
  return (await pause(drawLatencyMs(state.settings.latencyMs), signal)) ? reply : undefined;
}

/** Starts the stand-in. Defaults: free port on 127.0.0.1, token {@link CRYPTOBOT_TEST_TOKEN}, no latency, no webhook. */
export async function startCryptoBotStandIn(opts: Partial<CryptoBotStandInOptions> = {}): Promise<CryptoBotStandIn> {
  const state = createState(opts);
  const server = await startServer(opts, {
    maxBodyBytes: MAX_BODY_BYTES,
    tooLarge: nginxPage(413),
    control: controlRoutes(state),
    serve: (req, url, body, signal) => serveApi(state, req, url, body, signal),
    crashed: (_req, e) => ({ status: 500, body: { ok: false, error: { code: 500, name: 'APP_ERROR' }, detail: String(e) } }),
  });
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

/** `node tools/cryptobot/stand-in.ts [--port 8082] [--host h] [--token t] [--latency 40|25-55] [--webhook url]` */
if (import.meta.main) {
  await runCli({
    name: 'cryptobot',
    port: 8082,
    options: { webhook: {} },
    start: (common, own) => startCryptoBotStandIn(own.webhook === undefined ? common : { ...common, webhookUrl: own.webhook }),
    note: (standIn) => `control API at ${standIn.origin}/__control/`,
  });
}
