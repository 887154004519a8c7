import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { ConfigError } from './config';
import { createLogger, errorMessage, type Logger } from './logger';
import { redact } from './redact';

/** The error type of the HTTP boundary (routes, middleware); mapped to JSON in `errorHandler`. */
export class AppError extends Error {
  override readonly name = 'AppError';

  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }

  /** 400 naming the offending field, e.g. `args.chat_id`. */
  static badRequest(field: string, message: string): AppError {
    return new AppError(400, 'invalid_request', `${field}: ${message}`, field);
  }
}

/** The kinds of refusal a service can make; each maps to one HTTP status and one kind of chat answer. */
export type Refusal = 'invalid' | 'not_found' | 'conflict' | 'refused' | 'unavailable';

const STATUS_OF: Record<Refusal, ContentfulStatusCode> = { invalid: 400, not_found: 404, conflict: 409, refused: 422, unavailable: 503 };

/**
 * A service's refusal in its own terms (no HTTP in it): `errorHandler` maps it to a status, the bot
 * to a chat answer. `code` is the stable machine name the API shows (`invalid_transition`, ...).
 */
export class DomainError extends Error {
  override readonly name = 'DomainError';

  constructor(
    readonly kind: Refusal,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }

  /** Invalid input, naming the offending field, e.g. `args.chat_id`. */
  static invalid(field: string, message: string): DomainError {
    return new DomainError('invalid', 'invalid_request', `${field}: ${message}`, field);
  }

  static notFound(what: string): DomainError {
    return new DomainError('not_found', 'not_found', `no such ${what}`);
  }
}

/** An `AppError` or a `DomainError` as the HTTP boundary answers it; undefined for anything unexpected. */
export function httpErrorOf(err: unknown): { status: ContentfulStatusCode; body: ErrorBody } | undefined {
  if (err instanceof AppError || err instanceof DomainError) {
    const status = err instanceof AppError ? err.status : STATUS_OF[err.kind];
    return { status, body: { error: err.code, message: redact(err.message), ...(err.field ? { field: err.field } : {}) } };
  }
  return undefined;
}

export interface ErrorBody {
  error: string;
  message: string;
  field?: string;
}

function routeOf(c: Context): string {
  try {
    return c.req.routePath || c.req.path;
  } catch {
    return c.req.path;
  }
}

/** Reports an unexpected failure (the app passes the incident ledger's `reportIncident`). */
export type ReportFailure = (env: Env, log: Logger, where: string, err: unknown) => Promise<void>;

/**
 * Maps any thrown value to a JSON response. Unexpected errors are logged, answered 500 without
 * details, and handed to `report` (after the response, in `waitUntil`).
 */
export const errorHandler =
  (report: ReportFailure) =>
  (err: Error, c: Context): Response => {
    const refused = httpErrorOf(err);
    if (refused) return c.json(refused.body, refused.status);
    if (err instanceof HTTPException && err.status < 500) {
      // Raised by Hono itself, e.g. a body that is not JSON.
      return c.json({ error: 'invalid_request', message: err.message, field: 'body' } satisfies ErrorBody, err.status);
    }
    const log: Logger = c.get('log') ?? createLogger(c.req.header('x-correlation-id') ?? crypto.randomUUID());
    // The route's pattern, not the path: requests to made-up paths are one incident, not one each.
    const reported = report(c.env as Env, log, `${c.req.method} ${routeOf(c)}`, err);
    try {
      c.executionCtx.waitUntil(reported);
    } catch {
      // No execution context (a direct app.request call): the report still runs, unawaited.
    }
    if (err instanceof ConfigError) {
      log.error('config_invalid', { error: err.message });
      return c.json({ error: 'misconfigured', message: 'the service is misconfigured; see the logs' } satisfies ErrorBody, 500);
    }
    log.error('unhandled_error', { error: errorMessage(err), path: c.req.path });
    return c.json({ error: 'internal', message: 'internal error' } satisfies ErrorBody, 500);
  };
