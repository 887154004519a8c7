import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { uniqueTelegramId } from '../testing/db';
import { configureTelegram, deliveries } from '../testing/telegram';
import type { Variant } from './content';
import { contentProblems, toVariant, variantFor, visibleLength } from './content';
import { decodeRecipients, encodeRecipients } from './recipients.envelope';
import { deliver } from './telegram-send';

const api = { apiRoot: env.TELEGRAM_API_ROOT, token: env.BOT_TOKEN };
const text = (t: string): Variant => ({ kind: 'text', language_code: null, text: t });

describe('delivering one message', () => {
  it('sends every kind of content', async () => {
    const chat = uniqueTelegramId();
    const kinds: Variant[] = [
      text('plain'),
      { kind: 'copy', language_code: null, from_chat_id: 1, message_id: 2 },
      ...(['photo', 'video', 'document', 'animation'] as const).map((kind) => ({
        kind,
        language_code: null,
        file_id: `file-${kind}`,
        caption: kind,
      })),
    ];
    for (const v of kinds) expect((await deliver(api, chat, v, false)).outcome, v.kind).toBe('sent');
    const got = await deliveries(chat);
    expect(got.map((d) => d.method)).toEqual(['sendMessage', 'copyMessage', 'sendPhoto', 'sendVideo', 'sendDocument', 'sendAnimation']);
    expect((await deliver(api, chat, text('paid'), true)).outcome).toBe('sent');
    expect((await deliveries(chat)).at(-1)?.paid).toBe(true);
  });

  it('maps Telegram refusals to outcomes', async () => {
    const blocked = uniqueTelegramId();
    const deactivated = uniqueTelegramId();
    const missing = uniqueTelegramId();
    await configureTelegram({
      blockedChats: [blocked],
      deactivatedChats: [deactivated],
      missingChats: [missing],
      deletedMessages: [{ chat_id: 7, message_id: 8 }],
    });
    expect(await deliver(api, blocked, text('x'), false)).toMatchObject({
      outcome: 'blocked',
      reason: 'Forbidden: bot was blocked by the user',
    });
    expect(await deliver(api, deactivated, text('x'), false)).toMatchObject({
      outcome: 'blocked',
      reason: 'Forbidden: user is deactivated',
    });
    expect(await deliver(api, missing, text('x'), false)).toMatchObject({ outcome: 'failed', reason: 'Bad Request: chat not found' });
    const copy: Variant = { kind: 'copy', language_code: null, from_chat_id: 7, message_id: 8 };
    expect(await deliver(api, uniqueTelegramId(), copy, false)).toMatchObject({
      outcome: 'failed',
      reason: 'Bad Request: message to copy not found',
    });
  });

  it('retries after a 5xx, and after a 429 for retry_after, blocking the bot', async () => {
    await configureTelegram({ failNext: { status: 502, count: 1 } });
    const now = 1_000_000;
    expect(await deliver(api, uniqueTelegramId(), text('x'), false, undefined, () => now)).toMatchObject({
      outcome: 'retry',
      retryAt: now + 5000,
    });
    const limited = { apiRoot: env.TEST_TELEGRAM_LIMITED_ROOT, token: env.BOT_TOKEN };
    const results = await Promise.all(
      Array.from({ length: 4 }, () => deliver(limited, uniqueTelegramId(), text('x'), false, undefined, () => now)),
    );
    const refused = results.filter((r) => r.outcome === 'retry');
    expect(refused.length).toBeGreaterThanOrEqual(2);
    expect(refused[0]?.blockBotUntil).toBeGreaterThanOrEqual(now + 1000);
  });

  it('counts a send whose outcome cannot be known as unknown', async () => {
    const nowhere = { apiRoot: 'http://127.0.0.1:9', token: env.BOT_TOKEN };
    const result = await deliver(nowhere, 1, text('x'), false);
    expect(['unknown', 'retry']).toContain(result.outcome);
  });
});

describe('content', () => {
  it('picks the language, its base, or the default', () => {
    const variants: Variant[] = [
      text('default'),
      { ...(text('ru') as object), language_code: 'ru' } as Variant,
      { ...(text('pt') as object), language_code: 'pt' } as Variant,
    ];
    const pick = (lang: string | null) => (variantFor(variants, lang) as { text: string }).text;
    expect([pick('ru'), pick('RU'), pick('pt-br'), pick('de'), pick(null)]).toEqual(['ru', 'ru', 'pt', 'default', 'default']);
  });

  it('counts HTML without its tags and finds duplicate languages', () => {
    expect(visibleLength('<b>bold</b> &amp; x', 'HTML')).toBe(8); // 'bold & x'
    expect(visibleLength('<b>', undefined)).toBe(3);
    const problems = contentProblems([toVariant({ language_code: null, text: 'a' }), toVariant({ language_code: null, text: 'b' })]);
    expect(problems).toEqual([{ field: 'messages.1.language_code', message: 'a second variant for the default' }]);
  });
});

describe('recipient batches on the queue', () => {
  it('round-trips and refuses what is not one', () => {
    const batch = {
      campaign: crypto.randomUUID(),
      batch: 'c:1',
      recipients: [[1, 'ru'] as [number, string | null], [2, null] as [number, string | null]],
    };
    expect(decodeRecipients(encodeRecipients(batch))).toEqual({ ok: true, batch: { v: 1, ...batch } });
    expect(decodeRecipients('x')).toEqual({ ok: false, reason: 'body is not bytes' });
    expect(decodeRecipients(new Uint8Array([0xc1]))).toMatchObject({ ok: false });
    expect(decodeRecipients(encodeRecipients({ ...batch, recipients: [] }))).toMatchObject({
      ok: false,
      reason: expect.stringContaining('recipients'),
    });
  });
});
