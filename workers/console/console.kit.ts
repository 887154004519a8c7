import type { Context } from 'hono';
import { AppError, type ErrorBody } from '../core/errors';
import type { AppEnv } from '../core/http';
import type { ConsoleSession } from './console.schema';

export type ConsoleEnv = { Bindings: Env; Variables: AppEnv['Variables'] & { session: ConsoleSession } };
export type C = Context<ConsoleEnv>;

/** Hands a request to the app itself: the console is a client of the admin API, inside the Worker. */
export type AppFetch = (request: Request, env: Env, ctx?: ExecutionContext) => Response | Promise<Response>;

export type ApiResult<T> = { ok: true; data: T } | { ok: false; status: number; message: string };

export const SESSION_COOKIE = 'flarecast_session';
export const cookieBase = { path: '/admin', httpOnly: true, secure: true, sameSite: 'Strict' } as const;

/**
 * The admin API as the console's pages call it: inside the Worker, with the admin token (which never
 * reaches the browser), so the console validates and behaves exactly as the API does.
 */
export class ConsoleApi {
  readonly #fetch: AppFetch;

  constructor(fetch: AppFetch) {
    this.#fetch = fetch;
  }

  call(c: C, method: string, path: string, body?: unknown): Promise<Response> {
    const headers = new Headers({ authorization: `Bearer ${c.var.config.ADMIN_API_TOKEN}`, 'x-correlation-id': c.var.log.correlationId });
    if (body !== undefined) headers.set('content-type', 'application/json');
    const request = new Request(new URL(`/api${path}`, c.req.url), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return Promise.resolve(this.#fetch(request, c.env, executionCtx(c)));
  }

  async json<T>(c: C, method: string, path: string, body?: unknown): Promise<ApiResult<T>> {
    const res = await this.call(c, method, path, body);
    if (res.ok) return { ok: true, data: (await res.json()) as T };
    const error = (await res.json().catch(() => ({ message: res.statusText }))) as Partial<ErrorBody>;
    return { ok: false, status: res.status, message: error.message ?? `HTTP ${res.status}` };
  }

  /** The data of a GET; the API's refusal stands (404, 400 naming the field), its own failure is a bad gateway here. */
  async get<T>(c: C, path: string): Promise<T> {
    const result = await this.json<T>(c, 'GET', path);
    if (!result.ok)
      throw result.status < 500
        ? new AppError(result.status as 400, result.status === 404 ? 'not_found' : 'invalid_request', result.message)
        : new AppError(502, 'api_failed', result.message);
    return result.data;
  }

  /** The API's response as it is (its event streams: the browser's EventSource sends the session cookie, not a token). */
  async passThrough(c: C, path: string): Promise<Response> {
    const res = await this.call(c, 'GET', path);
    return new Response(res.body, res);
  }
}

/**
 * Pages as the console says them after a redirect (`?done=`): only these fixed strings are shown,
 * so no text from the URL reaches the page.
 */
const notices: Record<string, string> = {
  created: 'Draft created. Preview it, then start it.',
  start: 'Started.',
  pause: 'Paused: sends stop within a second.',
  resume: 'Resumed.',
  cancel: 'Cancelled.',
  preview: 'Preview sent.',
  rekick: 'Kicked again as a new run.',
};

/** The fixed notice named by `?done=`, if it names one. */
export function noticeOf(c: C): string | undefined {
  const key = c.req.query('done') ?? '';
  return Object.hasOwn(notices, key) ? notices[key] : undefined;
}

function executionCtx(c: C): ExecutionContext | undefined {
  try {
    return c.executionCtx as ExecutionContext;
  } catch {
    return undefined;
  }
}
