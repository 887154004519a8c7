import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
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
      if (result.success) return;
      const issue = result.error.issues[0];
      const field = issue?.path.length ? issue.path.join('.') : result.target;
      throw AppError.badRequest(field, issue?.message ?? 'invalid');
    },
  });
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

/** A zod schema, of whichever zod copy made it (the panel's contract brings its own). */
interface Parser<T> {
  safeParse(value: unknown): { success: true; data: T } | { success: false; error: { issues: { path: PropertyKey[]; message: string }[] } };
}

/**
 * The body of a webhook signed with the hex HMAC-SHA256 of its raw bytes (`header`, under `key`),
 * checked in constant time before anything is parsed: a wrong or missing signature is 401 (logged as
 * `refusedEvent`), a body that is not JSON or does not fit `schema` is 400 naming the field.
 */
export async function signedJson<T>(
  c: Context<AppEnv>,
  opts: { key: ArrayBuffer | string; header: string; schema: Parser<T>; refusedEvent: string; what: string },
): Promise<T> {
  const raw = await c.req.text();
  const expected = await hmacSha256Hex(opts.key, raw);
  if (!secretsEqual(expected, (c.req.header(opts.header) ?? '').toLowerCase())) {
    c.var.log.warn(opts.refusedEvent, { reason: 'bad signature' });
    throw new AppError(401, 'unauthorized', 'wrong signature');
  }
  let body: unknown;
  try {
    body = JSON.parse(raw);
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
