import { env } from 'cloudflare:workers';

export interface Delivery {
  seq: number;
  method: string;
  chat_id: number;
  message_id: number;
  text?: string;
  caption?: string;
  paid: boolean;
  at: number;
}

/** What the Telegram stand-in delivered, optionally to one chat. */
export async function deliveries(chatId?: number): Promise<Delivery[]> {
  const query = chatId === undefined ? '' : `?chat_id=${chatId}`;
  const res = await fetch(`${env.TELEGRAM_API_ROOT}/__control/deliveries${query}`);
  const body = (await res.json()) as { deliveries: Delivery[] };
  return body.deliveries;
}
