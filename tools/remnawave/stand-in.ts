/**
 * A stand-in for the Remnawave panel API (`@remnawave/backend-contract` 3.4.x) for tests and local runs: the
 * routes the product calls, with the contract's paths and request schemas, the panel's envelopes, error codes and
 * status rules (lazy EXPIRED/LIMITED marking), proxy failures on demand, signed webhooks, and a control API under
 * /__control/ to seed users and nodes, change behaviour and inspect calls.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { ERRORS } from '@remnawave/backend-contract';
import { closeOnSignals, listen } from '../standin-server.ts';
import { handleControl } from './control.ts';
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

interface Reply {
  status: number;
  /** JSON body; none for 202/204. */
  body?: unknown;
  /** A non-JSON body (the reverse proxy's HTML pages). */
  html?: string;
  headers?: Record<string, string>;
}

const PROXY_TITLES: Record<number, string> = { 502: '502 Bad Gateway', 503: '503 Service Temporarily Unavailable' };

function panelError(path: string, error: ErrorDef): Reply {
  return { status: error.httpCode, body: { timestamp: new Date().toISOString(), path, message: error.message, errorCode: error.code } };
}

/** What a failing deployment answers: nginx's HTML for 502/503, Nest's throttler for 429, the panel's A001 for 500. */
function failure(path: string, status: FailStatus): Reply {
  if (status === 500) return panelError(path, ERRORS.INTERNAL_SERVER_ERROR);
  if (status === 429) {
    return {
      ...panelError(path, { code: 'E000', message: 'ThrottlerException: Too Many Requests', httpCode: 429 }),
      headers: { 'retry-after': '1' },
    };
  }
  const title = PROXY_TITLES[status];
  return {
    status,
    html: `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`,
  };
}

function toReply(path: string, outcome: Outcome): Reply {
  if ('error' in outcome) return panelError(path, outcome.error);
  // nestjs-zod's ZodValidationException, which the panel's filter passes through as is.
  if ('invalid' in outcome) return { status: 400, body: { statusCode: 400, message: 'Validation failed', errors: outcome.invalid } };
  return outcome;
}

function decide(state: State, req: IncomingMessage, url: URL, body: { value: unknown } | undefined): Reply {
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

async function handleApi(state: State, req: IncomingMessage, url: URL, raw: Buffer, signal: AbortSignal): Promise<Reply | undefined> {
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
  if (state.settings.latencyMs > 0) {
    try {
      await sleep(state.settings.latencyMs, undefined, { signal });
    } catch {
      return undefined; // closing: the socket is about to be destroyed
    }
  }
  return reply;
}

function write(res: ServerResponse, reply: Reply): void {
  const [type, text] =
    reply.html !== undefined
      ? ['text/html', reply.html]
      : reply.body === undefined
        ? [undefined, '']
        : ['application/json; charset=utf-8', JSON.stringify(reply.body)];
  res.writeHead(reply.status, { ...(type ? { 'content-type': type } : {}), 'content-length': Buffer.byteLength(text), ...reply.headers });
  res.end(text);
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The production panel drops connections that did not come through an HTTPS reverse proxy. */
function cameThroughProxy(req: IncomingMessage): boolean {
  return Boolean(req.headers['x-forwarded-for']) && req.headers['x-forwarded-proto'] === 'https';
}

/** Starts the stand-in. Defaults: free port on 127.0.0.1, token {@link REMNAWAVE_STAND_IN_TOKEN}, no latency, no users or nodes. */
export async function startRemnawaveStandIn(opts: Partial<RemnawaveStandInOptions> = {}): Promise<RemnawaveStandIn> {
  const state = createState(opts);
  const server = await listen((req, res, signal) => {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const isControl = url.pathname.startsWith('/__control/');
    if (!isControl && state.settings.requireProxyHeaders && !cameThroughProxy(req)) {
      req.socket.destroy();
      return;
    }
    const work = readBody(req).then(async (raw) => {
      if (isControl) {
        const r = await handleControl(state, req.method ?? 'GET', url.pathname, url.searchParams, raw);
        write(res, { status: r.status, body: r.body });
      } else {
        const reply = await handleApi(state, req, url, raw, signal);
        if (reply) write(res, reply);
      }
    });
    work.catch((e: unknown) => {
      if (res.headersSent) res.destroy();
      else write(res, panelError(req.url ?? '/', { ...ERRORS.INTERNAL_SERVER_ERROR, message: e instanceof Error ? e.message : String(e) }));
    });
  }, opts);
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

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '3010' },
      host: { type: 'string' },
      token: { type: 'string' },
      latency: { type: 'string' },
      users: { type: 'string', default: '0' },
      nodes: { type: 'string', default: '0' },
    },
  });
  const opts: Partial<RemnawaveStandInOptions> = {
    port: Number(values.port),
    // Demo data: users with Telegram ids 100000001..., nodes with default names.
    users: Array.from({ length: Number(values.users) }, (_, i) => ({ telegramId: 100_000_001 + i })),
    nodes: Array.from({ length: Number(values.nodes) }, () => ({})),
  };
  if (values.host !== undefined) opts.host = values.host;
  if (values.token !== undefined) opts.token = values.token;
  if (values.latency !== undefined) opts.latencyMs = Number(values.latency);
  const standIn = await startRemnawaveStandIn(opts);
  console.log(`remnawave stand-in listening on ${standIn.url} (token ${standIn.token})`);
  closeOnSignals(standIn);
}

if (import.meta.main) await main();
