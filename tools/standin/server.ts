/**
 * The HTTP server every stand-in (Telegram, Crypto Pay, Remnawave) runs: reads each body under a cap, sends
 * /__control/ to the control routes and everything else to the stand-in's API, writes the answer, and closes
 * cleanly. A stand-in brings only its service's behaviour.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BodyTooLarge, readBody } from './body.ts';
import { CONTROL_PREFIX, type ControlErrorMap, type ControlRoutes, handleControl } from './control.ts';

/** An answer: a status with a JSON body, an HTML body, or no body (202, 204). */
export interface HttpReply {
  status: number;
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as `text/html` instead of `body`. */
  html?: string;
  headers?: Record<string, string>;
}

/** What a stand-in plugs into the server. */
export interface StandInApi {
  /** Largest request body accepted, in bytes; a larger one gets `tooLarge` (on the control API, 413 `{ error }`). */
  maxBodyBytes: number;
  /** What the service answers to a body over `maxBodyBytes`. */
  tooLarge: HttpReply;
  /** Content type of JSON answers. Default `application/json`. */
  jsonType?: string;
  /** The control API's routes. */
  control: ControlRoutes;
  /** Turns the stand-in's own errors thrown by a control route into answers (e.g. 400 for a bad seed). */
  controlErrors?: ControlErrorMap;
  /**
   * Answers one request outside /__control/, body read. Undefined drops the connection without an answer (a
   * service that is down, or the server closing during the latency).
   */
  /** `receivedAt`: epoch ms (`preciseNow`) the request's first bytes were taken in, before its body was read. */
  serve(req: IncomingMessage, url: URL, body: Buffer, signal: AbortSignal, receivedAt: number): Promise<HttpReply | undefined>;
  /** What the service answers when the stand-in itself fails (a bug): its 500. */
  crashed(req: IncomingMessage, error: unknown): HttpReply;
}

export interface StandInServer {
  /** `http://host:port`, with a wildcard host shown as 127.0.0.1. */
  origin: string;
  /** Stops listening, aborts the handlers' signal (cancelling latency waits) and drops every connection, keep-alive ones included. */
  close(): Promise<void>;
}

/** The three pages nginx in front of a service answers on its own, as it sends them. */
const NGINX_TITLES = { 413: 'Request Entity Too Large', 502: 'Bad Gateway', 503: 'Service Temporarily Unavailable' };

/** What an nginx reverse proxy sends for 413 (body over `client_max_body_size`), 502 and 503. */
export function nginxPage(status: keyof typeof NGINX_TITLES): HttpReply {
  const title = `${status} ${NGINX_TITLES[status]}`;
  return {
    status,
    html: `<html>\r\n<head><title>${title}</title></head>\r\n<body>\r\n<center><h1>${title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`,
  };
}

function send(res: ServerResponse, reply: HttpReply, jsonType: string): void {
  const [type, text] =
    reply.html !== undefined
      ? ['text/html', reply.html]
      : reply.body === undefined
        ? [undefined, '']
        : [jsonType, JSON.stringify(reply.body)];
  res.writeHead(reply.status, { ...(type ? { 'content-type': type } : {}), 'content-length': Buffer.byteLength(text), ...reply.headers });
  res.end(text);
}

/**
 * Epoch ms with a fraction: which of two events came first is told even within one millisecond (a
 * request that left the moment an answer came back).
 */
export const preciseNow = (): number => performance.timeOrigin + performance.now();

async function answer(api: StandInApi, req: IncomingMessage, signal: AbortSignal): Promise<HttpReply | undefined> {
  const receivedAt = preciseNow();
  const url = new URL(req.url ?? '/', 'http://stand-in');
  const isControl = url.pathname.startsWith(CONTROL_PREFIX);
  let body: Buffer;
  try {
    body = await readBody(req, api.maxBodyBytes);
  } catch (e) {
    if (!(e instanceof BodyTooLarge)) throw e;
    return isControl ? { status: 413, body: { error: e.message } } : api.tooLarge;
  }
  if (!isControl) return api.serve(req, url, body, signal, receivedAt);
  return handleControl(api.control, req.method ?? 'GET', url, body, api.controlErrors);
}

/** Serves `api` on `host:port` (defaults 127.0.0.1 and a free port). */
export async function startServer(opts: { host?: string; port?: number }, api: StandInApi): Promise<StandInServer> {
  const jsonType = api.jsonType ?? 'application/json';
  const closing = new AbortController();
  const server = createServer((req, res) => {
    answer(api, req, closing.signal).then(
      (reply) => (reply ? send(res, reply, jsonType) : res.destroy()),
      (e: unknown) => (res.headersSent ? res.destroy() : send(res, api.crashed(req, e), jsonType)),
    );
  });
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const shownHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  let closed: Promise<void> | undefined;
  return {
    origin: `http://${shownHost}:${port}`,
    close: () => {
      closed ??= new Promise<void>((resolve) => {
        closing.abort();
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
}
