import { env, exports } from 'cloudflare:workers';

// The entry's default export, reached through workerd like any incoming request.
const self = (exports as unknown as { default: Fetcher }).default;

/** Calls the Worker's own fetch handler, as a client on the network would. */
export function call(path: string, init: RequestInit | Request = {}): Promise<Response> {
  return self.fetch(new Request(`https://flarecast.test${path}`, init));
}

/** Calls the admin API with the configured bearer token and a JSON body. */
export function callApi(path: string, init: { method?: string; body?: unknown; token?: string | null } = {}): Promise<Response> {
  const headers = new Headers({ 'content-type': 'application/json' });
  const token = init.token === undefined ? env.ADMIN_API_TOKEN : init.token;
  if (token !== null) headers.set('authorization', `Bearer ${token}`);
  return call(`/api${path}`, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
}

/** Posts an update to the webhook with the right secret unless another is given. */
export function postUpdate(update: unknown, secret: string | null = env.TELEGRAM_WEBHOOK_SECRET): Promise<Response> {
  const headers = new Headers({ 'content-type': 'application/json' });
  if (secret !== null) headers.set('x-telegram-bot-api-secret-token', secret);
  return call('/telegram/webhook', { method: 'POST', headers, body: typeof update === 'string' ? update : JSON.stringify(update) });
}

/** A response body as JSON of the type the test expects. */
export async function json<T = Record<string, unknown>>(res: Response): Promise<T> {
  return (await res.json()) as T;
}
