import { z } from 'zod';
import { errorMessage } from '../core/logger';

/**
 * What became of one Bot API call, in the terms every caller acts on:
 * - `ok`: Telegram did it; `result` is its answer.
 * - `blocked`: 403 — the user blocked the bot, was deactivated, or the bot was kicked: stop writing to them.
 * - `retry_after`: 429 — nothing of the bot may go out before `until` (epoch ms).
 * - `retryable`: the request surely never left (its slot was void or stale, the bot is waiting out a
 *   429, Telegram looked unreachable, the gate did not answer): it may be tried again. `botWide`:
 *   Telegram refused the bot itself (401: the token was revoked; 404: a wrong API root or token), so
 *   no other message of the bot goes either.
 * - `permanent`: Telegram refused it for good (400 chat not found, message too long, ...).
 * - `unknown`: it may have reached Telegram (a 5xx, a timeout, a lost connection, an answer that
 *   does not parse): never send it again.
 */
export type Outcome =
  | { kind: 'ok'; result: unknown }
  | { kind: 'blocked'; reason: string }
  | { kind: 'retry_after'; until: number; reason: string }
  | { kind: 'retryable'; reason: string; botWide?: true }
  | { kind: 'permanent'; code: number; reason: string }
  | { kind: 'unknown'; reason: string };

/** How long a 429 without the Bot API's `retry_after` (a proxy's) holds the bot, in ms. */
const PROXY_429_WAIT_MS = 5_000;

/** Telegram's answer envelope (https://core.telegram.org/bots/api#making-requests). */
const replySchema = z.object({
  ok: z.boolean(),
  result: z.unknown().optional(),
  error_code: z.number().int().optional(),
  description: z.string().optional(),
  parameters: z.object({ retry_after: z.number().optional(), migrate_to_chat_id: z.number().optional() }).optional(),
});

/** Classifies an answer Telegram (or a proxy in front of it) gave: its HTTP status and body text. */
export function classifyAnswer(status: number, text: string, now: number): Outcome {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  // The common answer, a send carried out: `ok: true` is all the schema asks of it. (zod runs without
  // its compiled fast path in workerd, where `eval` is off: a parse per answer showed in profiles.)
  if (status === 200 && typeof body === 'object' && body !== null && (body as { ok?: unknown }).ok === true)
    return { kind: 'ok', result: (body as { result?: unknown }).result };
  const reply = replySchema.safeParse(body);
  // A 429 is a refusal whoever answers it (a proxy's has no Bot API body): nothing was done; wait.
  if (!reply.success && status === 429) return { kind: 'retry_after', until: now + PROXY_429_WAIT_MS, reason: 'HTTP 429 from a proxy' };
  // A 5xx or an answer that is not Telegram's: the request may have been carried out.
  if (!reply.success) return { kind: 'unknown', reason: `HTTP ${status}: an answer that is not the Bot API's` };
  const r = reply.data;
  if (r.ok) return { kind: 'ok', result: r.result };
  const code = r.error_code ?? status;
  const reason = r.description ?? `HTTP ${status}`;
  if (code === 429) return { kind: 'retry_after', until: now + Math.max(1, r.parameters?.retry_after ?? 1) * 1000, reason };
  if (code === 403) return { kind: 'blocked', reason };
  // Not this message but the bot: failing each message for good would use up a campaign's audience.
  if (code === 401 || code === 404) return { kind: 'retryable', reason: `the Bot API refused the bot: ${reason}`, botWide: true };
  if (code >= 500 || status >= 500) return { kind: 'unknown', reason };
  return { kind: 'permanent', code, reason };
}

/**
 * Classifies a call that threw before an answer came. The runtime does not say whether the request
 * was written before the connection failed (workerd reports a refused connection and a reset after
 * writing alike, as "Network connection lost."), and a timeout may fire after Telegram acted, so
 * every such failure may have reached Telegram.
 */
export function classifyFailure(err: unknown): Outcome {
  return { kind: 'unknown', reason: errorMessage(err) };
}
