import { env } from 'cloudflare:workers';
import { postUpdate } from './http';
import { poll } from './poll';
import { type Call, calls, type Delivery, deliveries } from './telegram';

/** The first of `ADMIN_TELEGRAM_IDS`: the admin whose private chat the campaign tests drive. */
export const admin = Number(env.ADMIN_TELEGRAM_IDS.split(',')[0]);

let updateId = Math.floor(Math.random() * 1e6) * 1000 + 500;
let messageId = 1000;

const person = (id: number) => ({ id, is_bot: false, first_name: `Admin${id}`, language_code: 'en' });
/** The private chat with `id`, as an update carries it. */
export const chat = (id: number) => ({ id, type: 'private' as const, first_name: `Admin${id}` });

/** A message `from` sends to the bot in their private chat, delivered to the webhook. */
export function post(from: number, content: Record<string, unknown>) {
  return postUpdate({
    update_id: ++updateId,
    message: { message_id: ++messageId, date: Math.floor(Date.now() / 1000), chat: chat(from), from: person(from), ...content },
  });
}

/** `from` presses the button with callback `data` under the bot's message `card`. */
export function press(from: number, data: string, card: { message_id: number; text?: string }) {
  return postUpdate({
    update_id: ++updateId,
    callback_query: {
      id: `cq${updateId}`,
      from: person(from),
      chat_instance: '42',
      data,
      message: { message_id: card.message_id, date: Math.floor(Date.now() / 1000), chat: chat(from), text: card.text ?? '' },
    },
  });
}

export type Button = { text: string; callback_data: string };

/** The inline buttons of a call's `reply_markup`, row after row. */
export const buttons = (params: Record<string, unknown>): Button[] =>
  ((params.reply_markup as { inline_keyboard?: Button[][] } | undefined)?.inline_keyboard ?? []).flat();

/** The id of the campaign a card's buttons act on. */
export const campaignOf = (card: Delivery) => buttons(card.params)[0]?.callback_data.split(':')[2] as string;

/** The next message to the admin after `seq` that matches. */
export const nextDelivery = (after: number, match: (d: Delivery) => boolean) =>
  poll(async () => (await deliveries(admin)).find((d) => d.seq > after && match(d)), { what: 'a message to the admin' });

/** The next call of `method` after `seq` that matches. */
export const nextCall = (method: string, after: number, match: (c: Call) => boolean) =>
  poll(async () => (await calls(method)).find((c) => c.seq > after && match(c)), { what: `a ${method} call`, timeoutMs: 20_000 });

/** The stand-in's latest event: what happens from now on has a higher `seq`. */
export const lastSeq = async () => Math.max(0, ...(await deliveries()).map((d) => d.seq), ...(await calls()).map((c) => c.seq));

/** Posts `text` as the admin and returns the draft's card. */
export async function draft(text: string): Promise<Delivery> {
  const seq = await lastSeq();
  await post(admin, { text });
  return nextDelivery(seq, (d) => d.text?.startsWith(`📣 ${text}`) === true && buttons(d.params).length > 0);
}
