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
});
