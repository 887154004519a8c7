/// <reference types="vite/client" />
import { env } from 'cloudflare:workers';
import { GrammyError } from 'grammy';
import { describe, expect, it } from 'vitest';
import { botGate } from '../../durable-objects/gate/gate.do';
import { sendCall, type Variant } from '../campaigns/content';
import { getConfig } from '../core/config';
import { uniqueTelegramId } from '../testing/db';
import { configureTelegram, deliveries, telegramStats } from '../testing/telegram';
import { classifyAnswer } from './classify';
import { botApi, MAX_CONNECTIONS, Outbound, TelegramCallError } from './outbound';

const config = getConfig(env);
const text = (t: string): Variant => ({ kind: 'text', language_code: null, text: t });
const send = (outbound: Outbound, chat: number, v: Variant, paid = false) => {
  const [method, params] = sendCall(chat, v, paid);
  return outbound.send(method, params, { paid });
};

describe('the outbound path', () => {
  it('sends every kind of content', async () => {
    const outbound = new Outbound(config, env);
    const chat = uniqueTelegramId();
    const kinds: Variant[] = [
      text('plain'),
      { kind: 'copy', language_code: null, from_chat_id: 1, message_id: 2 },
      ...(['photo', 'video', 'document', 'animation'] as const).map((kind) => ({
        kind,
        language_code: null,
        file_id: `f-${kind}`,
        caption: kind,
      })),
    ];
    for (const v of kinds) expect((await send(outbound, chat, v)).kind, v.kind).toBe('ok');
    expect((await send(outbound, chat, text('paid'), true)).kind).toBe('ok');
    const got = await deliveries(chat);
    expect(got.map((d) => d.method)).toEqual([
      'sendMessage',
      'copyMessage',
      'sendPhoto',
      'sendVideo',
      'sendDocument',
      'sendAnimation',
      'sendMessage',
    ]);
    expect(got.at(-1)?.paid).toBe(true);
  });

  it('classifies Telegram refusals once, by code, never by matching words', async () => {
    const outbound = new Outbound(config, env);
    const [blocked, deactivated, missing] = [uniqueTelegramId(), uniqueTelegramId(), uniqueTelegramId()];
    await configureTelegram({
      blockedChats: [blocked],
      deactivatedChats: [deactivated],
      missingChats: [missing],
      deletedMessages: [{ chat_id: 7, message_id: 8 }],
    });
    expect(await send(outbound, blocked, text('x'))).toEqual({ kind: 'blocked', reason: 'Forbidden: bot was blocked by the user' });
    expect(await send(outbound, deactivated, text('x'))).toEqual({ kind: 'blocked', reason: 'Forbidden: user is deactivated' });
    expect(await send(outbound, missing, text('x'))).toEqual({ kind: 'permanent', code: 400, reason: 'Bad Request: chat not found' });
    expect(await send(outbound, uniqueTelegramId(), { kind: 'copy', language_code: null, from_chat_id: 7, message_id: 8 })).toEqual({
      kind: 'permanent',
      code: 400,
      reason: 'Bad Request: message to copy not found',
    });
  });

  it('counts a 5xx after delivery as unknown and never sends it again', async () => {
    const outbound = new Outbound(config, env);
    const chat = uniqueTelegramId();
    await configureTelegram({ failNext: { status: 502, count: 1, delivered: true } });
    expect(await send(outbound, chat, text('once'))).toEqual({ kind: 'unknown', reason: 'Bad Gateway' });
    // Telegram had delivered it: exactly one message, and nothing here tried again.
    expect((await deliveries(chat)).map((d) => d.text)).toEqual(['once']);
  });

  it('takes what is not a Bot API answer as unknown', () => {
    expect(classifyAnswer(502, '<html>Bad gateway</html>', 0)).toEqual({
      kind: 'unknown',
      reason: "HTTP 502: an answer that is not the Bot API's",
    });
    expect(classifyAnswer(200, '{"ok":tru', 0).kind).toBe('unknown');
    expect(classifyAnswer(200, '{"ok":"true"}', 0).kind).toBe('unknown');
    expect(classifyAnswer(200, '{"ok":true,"result":{"message_id":5}}', 0)).toEqual({ kind: 'ok', result: { message_id: 5 } });
    expect(
      classifyAnswer(
        429,
        '{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}',
        1000,
      ),
    ).toEqual({
      kind: 'retry_after',
      until: 8000,
      reason: 'Too Many Requests: retry after 7',
    });
  });

  it("takes a proxy's 429 for a refusal, and a refused token (401) or API root (404) for the whole bot, not the message", () => {
    expect(classifyAnswer(429, '<html>Too Many Requests</html>', 1000)).toEqual({
      kind: 'retry_after',
      until: 6000,
      reason: 'HTTP 429 from a proxy',
    });
    for (const [code, description] of [
      [401, 'Unauthorized'],
      [404, 'Not Found'],
    ] as const)
      expect(classifyAnswer(code, JSON.stringify({ ok: false, error_code: code, description }), 0)).toEqual({
        kind: 'retryable',
        reason: `the Bot API refused the bot: ${description}`,
        botWide: true,
      });
  });

  it('sends nothing more of the bot once Telegram refuses its token: three refusals, then held off', async () => {
    // A token the stand-in does not take, as Telegram answers one revoked in BotFather: 401.
    const revoked = new Outbound({ ...config, BOT_TOKEN: 'revoked-in-botfather' }, env);
    await telegramReachable();
    try {
      const before = (await telegramStats()).requests;
      const outcomes = [];
      for (let i = 0; i < 3; i++) outcomes.push(await revoked.send('sendMessage', { chat_id: uniqueTelegramId(), text: 'x' }));
      expect(outcomes.map((o) => [o.kind, 'botWide' in o && o.botWide])).toEqual(Array(3).fill(['retryable', true]));
      // Each refused once, not tried again; then the isolate holds sends off (a probe every 5 s).
      expect((await telegramStats()).requests - before).toBe(3);
      expect(await revoked.send('sendMessage', { chat_id: uniqueTelegramId(), text: 'x' })).toEqual({
        kind: 'retryable',
        reason: 'Telegram looked unreachable',
      });
      expect((await telegramStats()).requests - before).toBe(3);
    } finally {
      await telegramReachable();
    }
  });

  it('gives no slot, and sends nothing, when the gate does not answer', async () => {
    const down = { acquire: () => Promise.reject(new Error('Durable Object is overloaded.')) };
    const gateEnv = { ...env, GATE: { idFromName: () => ({}), get: () => down } } as unknown as Env;
    const before = (await telegramStats()).requests;
    expect(await new Outbound(config, gateEnv).send('sendMessage', { chat_id: uniqueTelegramId(), text: 'x' })).toEqual({
      kind: 'retryable',
      reason: 'the gate did not answer: Durable Object is overloaded.',
    });
    expect((await telegramStats()).requests).toBe(before);
  });

  it('on a 429 stops every send of the bot at once: granted slots are void, the gate blocks', async () => {
    const outbound = new Outbound(config, env);
    const gate = botGate(env);
    const grant = await gate.acquire({ count: 1, paid: false, priority: 'bulk' });
    const held = { at: grant.times[0] as number, epoch: grant.epoch, receivedAt: Date.now() };
    await configureTelegram({ failNext: { status: 429, count: 1, retryAfter: 2 } });
    const first = await send(outbound, uniqueTelegramId(), text('x'));
    expect(first.kind).toBe('retry_after');
    const stats = await gate.stats();
    expect(stats.blockedUntil).toBeGreaterThan(Date.now());
    expect(stats.epoch).toBe(grant.epoch + 1);
    // A slot granted before the 429 never reaches Telegram, even if its time has come.
    const before = (await telegramStats()).requests;
    const [method, params] = sendCall(uniqueTelegramId(), text('late'), false);
    expect(await outbound.send(method, params, { slot: held })).toEqual({ kind: 'retryable', reason: 'slot voided by a 429' });
    expect((await telegramStats()).requests).toBe(before);
    // A transactional send waits the block out, then goes.
    const chat = uniqueTelegramId();
    expect((await send(outbound, chat, text('after'))).kind).toBe('ok');
    expect((await deliveries(chat))[0]?.at).toBeGreaterThanOrEqual(stats.blockedUntil);
  });

  it('hands a stale slot back instead of sending it late', async () => {
    const outbound = new Outbound(config, env);
    const gate = botGate(env);
    const grant = await gate.acquire({ count: 1, paid: false, priority: 'bulk' });
    const slot = { at: (grant.times[0] as number) - 1000, epoch: grant.epoch, receivedAt: Date.now() };
    const [method, params] = sendCall(uniqueTelegramId(), text('late'), false);
    expect(await outbound.send(method, params, { slot })).toEqual({ kind: 'retryable', reason: 'slot went stale' });
  });

  it('says Telegram looked unreachable, not that a late slot went stale, while it holds sends off', async () => {
    const outbound = new Outbound(config, env);
    // Three sends in a row without a Bot API answer: the isolate holds sends off for a while.
    await configureTelegram({ failNext: { status: 502, count: 3 } });
    for (let i = 0; i < 3; i++) expect((await send(outbound, uniqueTelegramId(), text('probe'))).kind).toBe('unknown');
    const grant = await botGate(env).acquire({ count: 1, paid: false, priority: 'bulk' });
    const slot = { at: (grant.times[0] as number) - 1000, epoch: grant.epoch, receivedAt: Date.now() };
    const [method, params] = sendCall(uniqueTelegramId(), text('late and held off'), false);
    try {
      expect(await outbound.send(method, params, { slot })).toEqual({ kind: 'retryable', reason: 'Telegram looked unreachable' });
      // A send that takes its own slot hears of it after one slot, not after five held off in turn.
      const granted = (await botGate(env).stats()).granted;
      expect(await send(outbound, uniqueTelegramId(), text('held off'))).toEqual({
        kind: 'retryable',
        reason: 'Telegram looked unreachable',
      });
      expect((await botGate(env).stats()).granted - granted).toBe(1);
    } finally {
      // Any answer lets sends through again.
      expect((await outbound.call('getMe')).kind).toBe('ok');
    }
  });

  it('keeps at most 6 requests of one invocation waiting on Telegram', async () => {
    await configureTelegram({ latencyMs: 60 });
    try {
      const outbound = new Outbound(config, env);
      await Promise.all(Array.from({ length: 20 }, () => outbound.call('getMe')));
      const stats = (await telegramStats()) as { maxInFlightPerInvocation?: number };
      expect(stats.maxInFlightPerInvocation).toBe(MAX_CONNECTIONS);
    } finally {
      await configureTelegram({ latencyMs: 0 });
    }
  });

  it('paces the bot below its limit: no second holds more than the paced share', async () => {
    const outbound = new Outbound(config, env);
    const chats = Array.from({ length: 45 }, () => uniqueTelegramId());
    await Promise.all(chats.map((chat) => send(outbound, chat, text('paced'))));
    const times = (await Promise.all(chats.map((c) => deliveries(c)))).flat().map((d) => d.at);
    times.sort((a, b) => a - b);
    expect(times).toHaveLength(45);
    // 0.96 × 30/s: any 29 consecutive sends span at least 28 spacings of 34.7 ms.
    for (let i = 0; i + 29 < times.length; i++) expect((times[i + 29] as number) - (times[i] as number)).toBeGreaterThanOrEqual(1000);
  });
});

describe('a gate that cannot be reached', () => {
  it('still gives the caller the 429 when the gate cannot be told of it', async () => {
    const gate = botGate(env);
    // The gate's object restarting just as the 429 is reported: its stub refuses that one call.
    const resetting = {
      acquire: (r: Parameters<typeof gate.acquire>[0]) => gate.acquire(r),
      watch: (epoch: number, until?: number) => gate.watch(epoch, until),
      block: () => Promise.reject(new Error('Durable Object reset because its code was updated.')),
    };
    const gateEnv = { ...env, GATE: { idFromName: () => ({}), get: () => resetting } } as unknown as Env;
    await configureTelegram({ failNext: { status: 429, count: 1, retryAfter: 1 } });
    const outcome = await new Outbound(config, gateEnv).send('sendMessage', { chat_id: uniqueTelegramId(), text: 'x' });
    expect(outcome.kind).toBe('retry_after');
  });
});

describe('grammY through the outbound path', () => {
  it('raises GrammyError for Telegram refusals and TelegramCallError when the outcome is unknown', async () => {
    const api = botApi(config, env);
    const blocked = uniqueTelegramId();
    await configureTelegram({ blockedChats: [blocked] });
    const refused = await api.sendMessage(blocked, 'x').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(GrammyError);
    expect((refused as GrammyError).error_code).toBe(403);
    await configureTelegram({ failNext: { status: 500, count: 1 } });
    const unknown = await api.sendMessage(uniqueTelegramId(), 'x').catch((e: unknown) => e);
    expect(unknown).toBeInstanceOf(TelegramCallError);
    expect((unknown as TelegramCallError).outcome.kind).toBe('unknown');
    expect((await api.getMe()).is_bot).toBe(true);
  });
});

describe('one outbound path', () => {
  it('no file besides it builds a Bot API URL or calls Telegram on its own', () => {
    const sources = import.meta.glob(['/workers/**/*.{ts,tsx}', '/durable-objects/**/*.ts', '!**/*.test.ts', '!/workers/testing/**'], {
      query: '?raw',
      import: 'default',
      eager: true,
    }) as Record<string, string>;
    expect(Object.keys(sources).length).toBeGreaterThan(50);
    const allowed = new Set(['/workers/telegram/outbound.ts', '/workers/core/config.ts']);
    const offenders = Object.entries(sources)
      .filter(([path]) => !allowed.has(path))
      .filter(([, code]) => /\/bot\$\{|\/bot['"`]\s*\+|TELEGRAM_API_ROOT\b|api\.telegram\.org|apiRoot/.test(code))
      .map(([path]) => path);
    expect(offenders).toEqual([]);
  });
});

/** Any answer of Telegram lets sends through again (the isolate's hold-off is over). */
async function telegramReachable(): Promise<void> {
  expect((await new Outbound(config, env).call('getMe')).kind).toBe('ok');
}
