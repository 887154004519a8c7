/**
 * The control API every stand-in serves under /__control/ (no auth, JSON in and out): routes by method and name,
 * the body parsed as JSON only by the routes that read it, 404 for any other route.
 */

/** Where the control API lives; everything else is the stand-in's service API. */
export const CONTROL_PREFIX = '/__control/';

/** A control API answer: HTTP status and a JSON body (`{ error }` on failure). */
export interface ControlReply {
  status: number;
  body: unknown;
}

/** What a control route gets. */
interface ControlRequest {
  query: URLSearchParams;
  /** The body as JSON, `{}` when empty; a malformed one is refused with 400 `body must be JSON`. */
  json(): unknown;
  /** The body as a JSON object, `{}` when empty; anything else is refused with 400 and `error`. */
  object(error?: string): Record<string, unknown>;
}

/** Control routes by `METHOD name`: `'GET deliveries'` answers `GET /__control/deliveries` (a trailing slash is ignored). */
export type ControlRoutes = Record<string, (req: ControlRequest) => ControlReply | Promise<ControlReply>>;

/** Maps a stand-in's own error thrown by a route to an answer; undefined lets it through (a 500). */
export type ControlErrorMap = (error: unknown) => ControlReply | undefined;

/** Thrown by a route (or its request's body accessors) to refuse a request with `status` and `{ error }`. */
export class ControlError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** The `since_seq` query parameter: records with a greater `seq` are listed. Default 0. */
export function sinceSeq(query: URLSearchParams): number {
  const v = Number(query.get('since_seq') ?? '0');
  return Number.isFinite(v) ? v : 0;
}

function request(query: URLSearchParams, body: Buffer): ControlRequest {
  const json = (): unknown => {
    if (body.length === 0) return {};
    try {
      return JSON.parse(body.toString('utf8')) as unknown;
    } catch {
      throw new ControlError(400, 'body must be JSON');
    }
  };
  return {
    query,
    json,
    object: (error = 'body must be a JSON object') => {
      let value: unknown;
      try {
        value = json();
      } catch {
        throw new ControlError(400, error);
      }
      if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ControlError(400, error);
      return value as Record<string, unknown>;
    },
  };
}

/** Answers one control request (`url.pathname` under {@link CONTROL_PREFIX}) from `routes`. */
export async function handleControl(
  routes: ControlRoutes,
  method: string,
  url: URL,
  body: Buffer,
  mapError?: ControlErrorMap,
): Promise<ControlReply> {
  const key = `${method} ${url.pathname.slice(CONTROL_PREFIX.length).replace(/\/$/, '')}`;
  const route = Object.hasOwn(routes, key) ? routes[key] : undefined;
  if (!route) {
    return { status: 404, body: { error: `no control route ${method} ${url.pathname}` } };
  }
  try {
    return await route(request(url.searchParams, body));
  } catch (e) {
    if (e instanceof ControlError) return { status: e.status, body: { error: e.message } };
    const mapped = mapError?.(e);
    if (mapped) return mapped;
    throw e;
  }
}
