import { env } from 'cloudflare:workers';
import type { Call, Delivery } from '../../tools/telegram/state.ts';

export type { Call, Delivery };

/** Calls of methods other than sends (edits, callback answers, ...) the stand-in answered, optionally of one method. */
export async function calls(method?: string): Promise<Call[]> {
  const res = await fetch(`${env.TELEGRAM_API_ROOT}/__control/calls${method ? `?method=${method}` : ''}`);
  return ((await res.json()) as { calls: Call[] }).calls;
}

/** What the Telegram stand-in delivered, optionally to one chat. */
export async function deliveries(chatId?: number): Promise<Delivery[]> {
  const query = chatId === undefined ? '' : `?chat_id=${chatId}`;
  const res = await fetch(`${env.TELEGRAM_API_ROOT}/__control/deliveries${query}`);
  const body = (await res.json()) as { deliveries: Delivery[] };
  return body.deliveries;
}

/** Changes the stand-in's behaviour (blocked or missing chats, limits, latency). */
export async function configureTelegram(patch: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${env.TELEGRAM_API_ROOT}/__control/config`, { method: 'POST', body: JSON.stringify(patch) });
  if (!res.ok) throw new Error(`stand-in config: HTTP ${res.status}`);
}

/** The stand-in's counters. */
export async function telegramStats(): Promise<{ requests: number; sends: number; rejected429: number }> {
  return (await (await fetch(`${env.TELEGRAM_API_ROOT}/__control/stats`)).json()) as {
    requests: number;
    sends: number;
    rejected429: number;
  };
}
