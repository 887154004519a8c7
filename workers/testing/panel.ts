import { env } from 'cloudflare:workers';
import { createHmac } from 'node:crypto';
import { call } from './http';

/** The panel's signature: hex HMAC-SHA256 of the raw body (node:crypto, not the product's code). */
export const panelSignature = (body: string | Uint8Array, secret = env.REMNAWAVE_WEBHOOK_SECRET) =>
  createHmac('sha256', secret).update(body).digest('hex');

/**
 * Posts a panel event as the panel sends it: `X-Remnawave-Signature` over the raw body and
 * `X-Remnawave-Timestamp` repeating the body's `timestamp`, unless `headers` says otherwise.
 */
export function postPanelEvent(body: string | Uint8Array, headers: Record<string, string> = {}): Promise<Response> {
  const text = typeof body === 'string' ? body : new TextDecoder().decode(body);
  const timestamp = /"timestamp":"([^"]+)"/.exec(text)?.[1] ?? '';
  return call('/webhooks/remnawave', {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-remnawave-signature': panelSignature(body),
      'x-remnawave-timestamp': timestamp,
      ...headers,
    },
    body,
  });
}

/** A user or node as the panel's API returns it, for an event's `data`. */
export async function panelObject(path: `/api/users/${number}` | `/api/nodes/${string}`): Promise<unknown> {
  const res = await fetch(`${env.REMNAWAVE_URL}${path}`, { headers: { authorization: `Bearer ${env.REMNAWAVE_API_TOKEN}` } });
  return ((await res.json()) as { response: unknown }).response;
}
