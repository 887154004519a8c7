import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { streamSSE } from 'hono/streaming';
import { type Config, getConfig } from './config';
import { createDb, type Db } from './db';
import { AppError } from './errors';
import { createLogger, type Logger } from './logger';
import { hmacSha256Hex, secretsEqual } from './secrets';

export interface AppEnv {
  Bindings: Env;
  Variables: { config: Config; log: Logger; db: Db };
}

/** A router whose request validation failures become 400s naming the field. */
export function createRouter(): OpenAPIHono<AppEnv> {
  return new OpenAPIHono<AppEnv>({
    defaultHook: (result) => {
      if (result.success) {
        // Postgres takes no NUL in text or JSON: refused here, naming the field, not a 500 there.
        const at = nulAt(result.data);
        if (at !== undefined) throw AppError.badRequest(at || result.target, 'must not contain NUL (\\u0000)');
        return;
      }
      const issue = result.error.issues[0];
      const field = issue?.path.length ? issue.path.join('.') : result.target;
      throw AppError.badRequest(field, issue?.message ?? 'invalid');
    },
  });
}

/** The path of the first string (or key) holding a NUL character in `value`, or undefined (iterative: any depth). */
function nulAt(value: unknown): string | undefined {
  const stack: [unknown, string][] = [[value, '']];
  for (let next = stack.pop(); next; next = stack.pop()) {
    const [v, path] = next;
    if (typeof v === 'string' && v.includes('\0')) return path;
    if (typeof v !== 'object' || v === null) continue;
    for (const [key, child] of Object.entries(v)) {
      const at = path ? `${path}.${key}` : key;
      if (key.includes('\0')) return at;
      stack.push([child, at]);
    }
  }
  return undefined;
}

/**
 * Per-request context: the parsed configuration, a logger carrying the correlation id (taken from
 * `X-Correlation-Id` or made up, and echoed back), and a database handle.
 */
export function requestContext(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const config = getConfig(c.env);
    const correlationId = sanitizeCorrelationId(c.req.header('x-correlation-id')) ?? crypto.randomUUID();
    c.set('config', config);
    c.set('log', createLogger(correlationId));
    c.header('x-correlation-id', correlationId);
    c.set('db', createDb(config));
    await next();
  };
}

/** `Authorization: Bearer <ADMIN_API_TOKEN>`, compared in constant time; anything else is 401. */
export function requireAdminToken(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header('authorization') ?? '');
    if (!match?.[1] || !secretsEqual(c.var.config.ADMIN_API_TOKEN, match[1])) {
      c.header('WWW-Authenticate', 'Bearer realm="flarecast"');
      throw new AppError(401, 'unauthorized', 'missing or wrong bearer token');
    }
    await next();
  };
}

/**
 * Largest signed provider webhook accepted, in bytes. A Crypto Pay `invoice_paid` update is at most
 * about 10 KiB (a 4 KB payload, a 1,024-character description, a 2,048-character hidden message); a
 * panel event carries one user or node, a few KiB.
 */
export const PROVIDER_WEBHOOK_MAX_BYTES = 64 * 1024;

/**
 * Refuses a body larger than `maxBytes` with 413 before anything reads it: on `Content-Length` alone
 * when the request has one, else while it streams in (at most `maxBytes` are ever buffered). Mounted
 * first on every route that takes a body, so an unauthenticated caller costs no more than its headers.
 */
export function limitBody(maxBytes: number): MiddlewareHandler {
  return bodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw new AppError(413, 'payload_too_large', `the body is larger than the ${maxBytes / 1024} KiB this route takes`);
    },
  });
}

/** A zod schema, of whichever zod copy made it (the panel's contract brings its own). */
interface Parser<T> {
  safeParse(value: unknown): { success: true; data: T } | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } };
}

/** Decodes a verified body leniently: a BOM is dropped and bytes that are not UTF-8 become U+FFFD. */
const lenientUtf8 = new TextDecoder('utf-8');

/**
 * The body of a webhook signed with the hex HMAC-SHA256 of its raw bytes (`header`, under `key`),
 * checked in constant time over the bytes as received, before they are decoded or parsed (decoding
 * first would refuse a genuine body whose bytes do not round-trip through UTF-8, e.g. a BOM). A wrong
 * or missing signature is 401 (logged as `refusedEvent`), a body that is not JSON or does not fit
 * `schema` is 400 naming the field. The route caps the body first (`limitBody`).
 */
export async function signedJson<T>(
  c: Context<AppEnv>,
  opts: { key: ArrayBuffer | string; header: string; schema: Parser<T>; refusedEvent: string; what: string },
): Promise<T> {
  const bytes = new Uint8Array(await c.req.arrayBuffer());
  const expected = await hmacSha256Hex(opts.key, bytes);
  if (!secretsEqual(expected, (c.req.header(opts.header) ?? '').toLowerCase())) {
    c.var.log.warn(opts.refusedEvent, { reason: 'bad signature' });
    throw new AppError(401, 'unauthorized', 'wrong signature');
  }
  let body: unknown;
  try {
    body = JSON.parse(lenientUtf8.decode(bytes));
  } catch {
    throw AppError.badRequest('body', 'malformed JSON');
  }
  const parsed = opts.schema.safeParse(body);
  if (!parsed.success)
    throw AppError.badRequest(parsed.error.issues[0]?.path.join('.') || 'body', parsed.error.issues[0]?.message ?? `invalid ${opts.what}`);
  return parsed.data;
}

/**
 * Server-sent events of something that progresses (a campaign, a bulk job): `progress` with its JSON
 * now and once a second after, then `done` when `finished` says so, and the stream ends. The first
 * state is read before the stream opens, so a missing one is an ordinary 404.
 */
export function progressEvents<T>(c: Context, first: T, next: () => Promise<T>, finished: (state: T) => boolean): Response {
  return streamSSE(c, async (stream) => {
    let state = first;
    for (;;) {
      await stream.writeSSE({ event: 'progress', data: JSON.stringify(state) });
      if (finished(state)) {
        await stream.writeSSE({ event: 'done', data: JSON.stringify(state) });
        return;
      }
      await stream.sleep(1000);
      if (stream.aborted) return;
      state = await next();
    }
  });
}

function sanitizeCorrelationId(value: string | undefined): string | undefined {
  return value && /^[A-Za-z0-9._:-]{1,128}$/.test(value) ? value : undefined;
}
