import { describe, expect, it } from 'vitest';
import type { Variant } from './content';
import { contentProblems, toVariant, variantFor, visibleLength } from './content';
import { decodeRecipients, encodeRecipients } from './recipients.envelope';

const text = (t: string): Variant => ({ kind: 'text', language_code: null, text: t });

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

describe('recipients messages on the queue', () => {
  it('round-trips and refuses what is not one', () => {
    const message = {
      campaign: crypto.randomUUID(),
      batch: 'c:1',
      recipients: [[1, 'ru'] as [number, string | null], [2, null] as [number, string | null]],
    };
    expect(decodeRecipients(encodeRecipients(message))).toEqual({ ok: true, message: { v: 1, ...message } });
    expect(decodeRecipients('x')).toEqual({ ok: false, reason: 'body is not bytes' });
    expect(decodeRecipients(new Uint8Array([0xc1]))).toMatchObject({ ok: false });
    expect(decodeRecipients(encodeRecipients({ ...message, recipients: [] }))).toMatchObject({
      ok: false,
      reason: expect.stringContaining('recipients'),
    });
  });
});
