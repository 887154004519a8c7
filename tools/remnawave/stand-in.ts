/**
 * A stand-in for the Remnawave panel API (`@remnawave/backend-contract` 3.4.x) for tests and local runs: the
 * routes the product calls, with the contract's paths and request schemas, the panel's envelopes, error codes and
 * status rules (lazy EXPIRED/LIMITED marking), proxy failures on demand, signed webhooks, and a control API under
 * /__control/ to seed users and nodes, change behaviour and inspect calls.
 */
import type { IncomingMessage } from 'node:http';
import { ERRORS } from '@remnawave/backend-contract';
import { runCli } from '../standin/cli.ts';
import { drawLatencyMs, pause } from '../standin/latency.ts';
import { type HttpReply, nginxPage, startServer } from '../standin/server.ts';
import { controlErrors, controlRoutes } from './control.ts';
import { type ErrorDef, matchRoute, type Outcome } from './routes.ts';
import type { FailStatus, NodeSeed, PanelNode, PanelUser, RemnawaveStandInOptions, State, UserSeed } from './state.ts';
import { configure, createState, listNodes, listUsers, reset, upsertNodes, upsertUsers } from './state.ts';
import type { NodeEvent, UserEvent, WebhookDelivery, WebhookMeta } from './webhook.ts';
import { sendStateWebhook } from './webhook.ts';

export type { Call, FailStatus, NodeSeed, PanelNode, PanelUser, RemnawaveStandInOptions, State, UserSeed, UserStatus } from './state.ts';
export { REMNAWAVE_STAND_IN_TOKEN } from './state.ts';
export type { NodeEvent, UserEvent, WebhookDelivery, WebhookMeta } from './webhook.ts';

/** A running stand-in. */
export interface RemnawaveStandIn {
  /** Base URL without trailing slash, e.g. `http://127.0.0.1:40123`; the API lives under `${url}/api`. */
  readonly url: string;
  /** The bearer token currently accepted. */
  readonly token: string;
  /** Live users by id (statuses are refreshed on API reads; call `users()` for a refreshed list). */
  readonly state: State;
  /** Users in id order, EXPIRED/LIMITED marking applied. */
  users(): PanelUser[];
  /** Nodes in view order. */
  nodes(): PanelNode[];
  /** Adds users or merges fields into existing ones (same id); missing fields get realistic defaults. */
  upsertUsers(seeds: UserSeed[]): PanelUser[];
  /** Adds nodes or merges fields into existing ones (same uuid). */
  upsertNodes(seeds: NodeSeed[]): PanelNode[];
  /** Changes token, latency, failNext, down, subPublicDomain or requireProxyHeaders at runtime. */
  configure(patch: Partial<RemnawaveStandInOptions>): void;
  /** Clears calls, failNext and down; users and nodes go back to the start seeds. Token and latency stay. */
  reset(): void;
  /** Posts a signed panel webhook about a user (id or object) to `url`; resolves with the receiver's answer. */
  sendWebhook(url: string, secret: string, event: UserEvent, user: number | PanelUser, meta?: WebhookMeta): Promise<WebhookDelivery>;
  /** Posts a signed panel webhook about a node (uuid or object) to `url`. */
  sendWebhook(url: string, secret: string, event: NodeEvent, node: string | PanelNode): Promise<WebhookDelivery>;
  /** Stops listening and drops every connection, keep-alive ones included. */
  close(): Promise<void>;
}

/** The panel's JSON bodies (Express's `res.json`). */
const JSON_TYPE = 'application/json; charset=utf-8';

/** The panel's body cap (`json({ limit: '100mb' })` in its main.ts). */
const MAX_BODY_BYTES = 100 * 1024 * 1024;

/** body-parser's PayloadTooLargeError as Nest's default exception filter answers it. */
const TOO_LARGE: HttpReply = { status: 413, body: { statusCode: 413, message: 'request entity too large' } };

function panelError(path: string, error: ErrorDef): HttpReply {
  return { status: error.httpCode, body: { timestamp: new Date().toISOString(), path, message: error.message, errorCode: error.code } };
}

/** What a failing deployment answers: nginx's HTML for 502/503, Nest's throttler for 429, the panel's A001 for 500. */
function failure(path: string, status: FailStatus): HttpReply {
  if (status === 500) return panelError(path, ERRORS.INTERNAL_SERVER_ERROR);
  if (status === 429) {
    return {
      ...panelError(path, { code: 'E000', message: 'ThrottlerException: Too Many Requests', httpCode: 429 }),
      headers: { 'retry-after': '1' },
    };
  }
  return nginxPage(status);
}

function toReply(path: string, outcome: Outcome): HttpReply {
  if ('error' in outcome) return panelError(path, outcome.error);
  // nestjs-zod's ZodValidationException, which the panel's filter passes through as is.
  if ('invalid' in outcome) return { status: 400, body: { statusCode: 400, message: 'Validation failed', errors: outcome.invalid } };
  return outcome;
}

function decide(state: State, req: IncomingMessage, url: URL, body: { value: unknown } | undefined): HttpReply {
  const path = req.url ?? '/';
  const method = req.method ?? 'GET';
  const s = state.settings;
  if (s.down) return failure(path, 503);
  if (s.failNext) {
    const { status } = s.failNext;
    s.failNext.count -= 1;
    if (s.failNext.count <= 0) s.failNext = null;
    return failure(path, status);
  }
  const match = matchRoute(method, url.pathname);
  if (!match) return panelError(path, { code: 'E000', message: `Cannot ${method} ${path}`, httpCode: 404 });
  if (req.headers.authorization !== `Bearer ${s.token}`) return panelError(path, { code: 'E000', message: 'Unauthorized', httpCode: 401 });
  if (!body) return panelError(path, { code: 'E000', message: 'Request body is not valid JSON', httpCode: 400 });
  return toReply(path, match.route.run(state, { params: match.params, query: Object.fromEntries(url.searchParams), body: body.value }));
}

/** Like Express's json parser: only JSON content types are read; anything else leaves the body empty. */
function parseBody(req: IncomingMessage, raw: Buffer): { value: unknown } | undefined {
  if (raw.length === 0 || !/\bjson\b/i.test(req.headers['content-type'] ?? '')) return { value: undefined };
  try {
    return { value: JSON.parse(raw.toString('utf8')) };
  } catch {
    return undefined;
  }
}

/** The production panel drops connections that did not come through an HTTPS reverse proxy. */
function cameThroughProxy(req: IncomingMessage): boolean {
  return Boolean(req.headers['x-forwarded-for']) && req.headers['x-forwarded-proto'] === 'https';
}

/** Decides the answer to one API request, records it, then waits out the latency. Undefined: drop the connection. */
async function serveApi(state: State, req: IncomingMessage, url: URL, raw: Buffer, signal: AbortSignal): Promise<HttpReply | undefined> {
  if (state.settings.requireProxyHeaders && !cameThroughProxy(req)) return undefined;
  const body = parseBody(req, raw);
  const reply = decide(state, req, url, body);
  state.calls.push({
    seq: ++state.seq,
    method: req.method ?? 'GET',
    path: url.pathname,
    query: Object.fromEntries(url.searchParams),
    body: body?.value ?? (raw.length > 0 ? raw.toString('utf8') : null),
    status: reply.status,
    at: Date.now(),
  });
  return (await pause(drawLatencyMs(state.settings.latencyMs), signal)) ? reply : undefined;
}

/** Starts the stand-in. Defaults: free port on 127.0.0.1, token {@link REMNAWAVE_STAND_IN_TOKEN}, no latency, no users or nodes. */
export async function startRemnawaveStandIn(opts: Partial<RemnawaveStandInOptions> = {}): Promise<RemnawaveStandIn> {
  const state = createState(opts);
  const server = await startServer(opts, {
    maxBodyBytes: MAX_BODY_BYTES,
    tooLarge: TOO_LARGE,
    jsonType: JSON_TYPE,
    control: controlRoutes(state),
    controlErrors,
    serve: (req, url, body, signal) => serveApi(state, req, url, body, signal),
    crashed: (req, e) =>
      panelError(req.url ?? '/', { ...ERRORS.INTERNAL_SERVER_ERROR, message: e instanceof Error ? e.message : String(e) }),
  });
  return {
    url: server.origin,
    get token() {
      return state.settings.token;
    },
    state,
    users: () => listUsers(state).sort((a, b) => a.id - b.id),
    nodes: () => listNodes(state),
    upsertUsers: (seeds) => upsertUsers(state, seeds),
    upsertNodes: (seeds) => upsertNodes(state, seeds),
    configure: (patch) => configure(state, patch),
    reset: () => reset(state),
    sendWebhook: (
      url: string,
      secret: string,
      event: UserEvent | NodeEvent,
      subject: number | string | PanelUser | PanelNode,
      meta?: WebhookMeta,
    ) => sendStateWebhook(state, url, secret, event, subject, meta),
    close: server.close,
  };
}

/** `node tools/remnawave/stand-in.ts [--port 3010] [--host h] [--token t] [--latency 40|25-55] [--users 0] [--nodes 0]` */
if (import.meta.main) {
  await runCli({
    name: 'remnawave',
    port: 3010,
    options: { users: { default: '0' }, nodes: { default: '0' } },
    start: (common, own) =>
      startRemnawaveStandIn({
        ...common,
        // Demo data: users with Telegram ids 100000001..., nodes with default names.
        users: Array.from({ length: Number(own.users) }, (_, i) => ({ telegramId: 100_000_001 + i })),
        nodes: Array.from({ length: Number(own.nodes) }, () => ({})),
      }),
    note: (standIn) => `token ${standIn.token}`,
  });
}
