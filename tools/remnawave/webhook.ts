/**
 * The panel's webhooks (WEBHOOK_URL / WEBHOOK_SECRET_HEADER): a JSON payload of the contract's
 * `RemnawaveWebhookEventSchema` shape, signed like the panel's webhook queue signs it.
 */
import { createHmac } from 'node:crypto';
import type { EVENTS } from '@remnawave/backend-contract';
import { listUsers, type PanelNode, type PanelUser, type State } from './state.ts';

type Values<T> = T[keyof T];
export type UserEvent = Values<typeof EVENTS.USER>;
export type NodeEvent = Values<typeof EVENTS.NODE>;
export type WebhookEvent = UserEvent | NodeEvent;

/** Extra facts of user events, e.g. `{ expiration: hours }` for `user.expiration`. Default null. */
export type WebhookMeta = { notConnectedAfterHours?: number | null; expiration?: number | null } | null;

export interface WebhookDelivery {
  /** The receiver's HTTP status, 0 when it could not be reached. */
  status: number;
  /** The receiver's answer, or the network error. */
  body: string;
  /** The exact bytes sent and signed. */
  payload: string;
  signature: string;
}

/** Webhook posts give up after this long, in ms. */
const TIMEOUT_MS = 10_000;

/** The payload the panel sends: `{ scope, event, timestamp, data, meta }` for users, without `meta` for nodes. */
function webhookPayload(event: UserEvent, data: PanelUser, meta?: WebhookMeta): Record<string, unknown>;
function webhookPayload(event: NodeEvent, data: PanelNode): Record<string, unknown>;
function webhookPayload(event: WebhookEvent, data: PanelUser | PanelNode, meta: WebhookMeta = null): Record<string, unknown> {
  const timestamp = new Date().toISOString();
  return event.startsWith('user.') ? { scope: 'user', event, timestamp, data, meta } : { scope: 'node', event, timestamp, data };
}

/**
 * POSTs an event to `url` as the panel does: `X-Remnawave-Signature` = hex HMAC-SHA256(secret, raw body),
 * `X-Remnawave-Timestamp` = the payload's timestamp, `User-Agent: Remnawave`. Never throws for the receiver's sake.
 */
async function sendWebhook(url: string, secret: string, payload: Record<string, unknown>): Promise<WebhookDelivery> {
  const raw = JSON.stringify(payload);
  const signature = createHmac('sha256', secret).update(raw).digest('hex');
  const headers = {
    'content-type': 'application/json',
    'x-remnawave-signature': signature,
    'x-remnawave-timestamp': String(payload.timestamp),
    'user-agent': 'Remnawave',
  };
  try {
    const res = await fetch(url, { method: 'POST', headers, body: raw, signal: AbortSignal.timeout(TIMEOUT_MS) });
    return { status: res.status, body: await res.text(), payload: raw, signature };
  } catch (e) {
    const message = e instanceof Error ? (e.cause instanceof Error ? e.cause.message : e.message) : String(e);
    return { status: 0, body: message, payload: raw, signature };
  }
}

/** What a webhook is about: a user id, a node uuid, or the object itself. */
export type WebhookSubject = number | string | PanelUser | PanelNode;

/**
 * Sends `event` about a user or node of the stand-in (looked up by id or uuid, statuses refreshed first).
 * Throws when the id or uuid is unknown, or when the event's scope does not match the subject.
 */
export async function sendStateWebhook(
  state: State,
  url: string,
  secret: string,
  event: WebhookEvent,
  subject: WebhookSubject,
  meta: WebhookMeta = null,
): Promise<WebhookDelivery> {
  const data =
    typeof subject === 'number'
      ? listUsers(state).find((u) => u.id === subject)
      : typeof subject === 'string'
        ? state.nodes.get(subject)
        : subject;
  if (!data) throw new Error(typeof subject === 'number' ? `no user with id ${subject}` : `no node with uuid ${String(subject)}`);
  const isUser = 'shortUuid' in data;
  if (isUser !== event.startsWith('user.')) throw new Error(`${event} is not about a ${isUser ? 'user' : 'node'}`);
  const payload = isUser ? webhookPayload(event as UserEvent, data, meta) : webhookPayload(event as NodeEvent, data as PanelNode);
  return sendWebhook(url, secret, payload);
}
