import { env } from 'cloudflare:workers';
import { GrammyError } from 'grammy';
import { describe, expect, it } from 'vitest';
import { botGate } from '../../durable-objects/gate/gate.do';
import { uniqueTelegramId } from '../testing/db';
import { poll } from '../testing/poll';
import { configureTelegram, deliveries } from '../testing/telegram';
import { getConfig } from './config';
import { createApi } from './telegram';

describe('the Bot API client with the gate', () => {
  it('sends through the bot-wide budget and stops every sender when Telegram answers 429', async () => {
    const api = createApi(getConfig(env), env);
    const chat = uniqueTelegramId();
    await api.sendMessage(chat, 'one');
    expect(await deliveries(chat)).toHaveLength(1);

    await configureTelegram({ failNext: { status: 429, count: 1, retryAfter: 1 } });
    const refused = await api.sendMessage(chat, 'two').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(GrammyError);
    expect((refused as GrammyError).error_code).toBe(429);
    const until = await botGate(env).blockedUntil();
    expect(until).toBeGreaterThan(Date.now());

    // While the block lasts the client answers 429 itself: Telegram never sees the call.
    const held = await api.sendMessage(chat, 'three').catch((e: unknown) => e);
    expect((held as GrammyError).parameters.retry_after).toBeGreaterThanOrEqual(1);
    expect(await deliveries(chat)).toHaveLength(1);

    // Then it sends again by itself.
    await poll(async () => (Date.now() > until ? true : undefined), { what: 'the end of the block' });
    await api.sendMessage(chat, 'four');
    expect((await deliveries(chat)).map((d) => d.text)).toEqual(['one', 'four']);
  });

  it('leaves calls that send nothing alone', async () => {
    const api = createApi(getConfig(env), env);
    expect((await api.getMe()).is_bot).toBe(true);
  });

  it('queues sends beyond the next second until the gate has room, at the bot-wide pace', async () => {
    const api = createApi(getConfig(env), env);
    const chats = Array.from({ length: 45 }, () => uniqueTelegramId());
    await Promise.all(chats.map((chat) => api.sendMessage(chat, 'paced')));
    const times: number[] = [];
    for (const chat of chats) for (const d of await deliveries(chat)) times.push(d.at);
    times.sort((a, b) => a - b);
    expect(times).toHaveLength(45);
    // 30 a second: the 45 sends span at least a second, and no second holds more than 32.
    expect((times.at(-1) as number) - (times[0] as number)).toBeGreaterThanOrEqual(900);
    for (let i = 0; i + 32 < times.length; i++) expect((times[i + 32] as number) - (times[i] as number)).toBeGreaterThanOrEqual(1000);
  });
});
