import { env } from 'cloudflare:workers';
import { eq } from 'drizzle-orm';
import type { Message } from 'grammy/types';
import { describe, expect, it } from 'vitest';
import { campaignMessagesTable, campaignsTable } from '../campaigns/campaigns.schema';
import { uniqueTelegramId, withTestDb } from '../testing/db';
import { postUpdate } from '../testing/http';
import { poll } from '../testing/poll';
import { type Call, calls, configureTelegram, type Delivery, deliveries } from '../testing/telegram';
import { titleOf, variantOf } from './campaigns.bot';

const admin = Number(env.ADMIN_TELEGRAM_IDS.split(',')[0]);
let updateId = Math.floor(Math.random() * 1e6) * 1000 + 500;
let messageId = 1000;

const person = (id: number) => ({ id, is_bot: false, first_name: `Admin${id}`, language_code: 'en' });
const chat = (id: number) => ({ id, type: 'private' as const, first_name: `Admin${id}` });

function post(from: number, content: Record<string, unknown>) {
  return postUpdate({
    update_id: ++updateId,
    message: { message_id: ++messageId, date: Math.floor(Date.now() / 1000), chat: chat(from), from: person(from), ...content },
  });
}

function press(from: number, data: string, card: { message_id: number; text?: string }) {
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

type Button = { text: string; callback_data: string };
const buttons = (params: Record<string, unknown>): Button[] =>
  ((params.reply_markup as { inline_keyboard?: Button[][] } | undefined)?.inline_keyboard ?? []).flat();

/** The next message to the admin after `seq` that matches. */
const nextDelivery = (after: number, match: (d: Delivery) => boolean) =>
  poll(async () => (await deliveries(admin)).find((d) => d.seq > after && match(d)), { what: 'a message to the admin' });

/** The next call of `method` after `seq` that matches. */
const nextCall = (method: string, after: number, match: (c: Call) => boolean) =>
  poll(async () => (await calls(method)).find((c) => c.seq > after && match(c)), { what: `a ${method} call`, timeoutMs: 20_000 });

const lastSeq = async () => Math.max(0, ...(await deliveries()).map((d) => d.seq), ...(await calls()).map((c) => c.seq));

describe('campaigns in the admin chat', () => {
  it('drafts a post, adds a language, previews, starts, shows progress, pauses and cancels', async () => {
    let seq = await lastSeq();
    await post(admin, { text: 'Big news\nThe rest of it', entities: [{ type: 'bold', offset: 0, length: 8 }] });
    const card = await nextDelivery(seq, (d) => buttons(d.params).some((b) => b.callback_data.startsWith('cmp:start:')));
    const id = buttons(card.params)[0]?.callback_data.split(':')[2] as string;
    expect(card.text).toContain('Big news');
    expect(card.text).toContain('Draft');
    expect(buttons(card.params).map((b) => b.callback_data.split(':')[1])).toEqual(['lang', 'preview', 'start', 'cancel']);
    const stored = await withTestDb(async (db) => ({
      campaign: (await db.select().from(campaignsTable).where(eq(campaignsTable.id, id)))[0],
      messages: await db.select().from(campaignMessagesTable).where(eq(campaignMessagesTable.campaignId, id)),
    }));
    expect(stored.campaign).toMatchObject({ title: 'Big news', status: 'draft', audience: {} });
    expect(stored.messages).toMatchObject([
      { languageCode: null, kind: 'text', text: 'Big news\nThe rest of it', entities: [{ type: 'bold' }] },
    ]);

    // Add a language: the picker, then the admin's next post becomes that variant.
    seq = await lastSeq();
    await press(admin, `cmp:lang:${id}`, card);
    const picker = await nextCall('editMessageReplyMarkup', seq, () => true);
    expect(buttons(picker.params).map((b) => b.callback_data)).toContain(`cmp:lang:${id}:de`);
    await press(admin, `cmp:lang:${id}:de`, card);
    await nextDelivery(seq, (d) => d.text?.includes('Send the post for de') ?? false);
    seq = await lastSeq();
    await post(admin, {
      photo: [
        { file_id: 'small', file_unique_id: 's', width: 90, height: 90 },
        { file_id: 'large', file_unique_id: 'l', width: 800, height: 800 },
      ],
      caption: 'Große Neuigkeiten',
    });
    const revised = await nextDelivery(seq, (d) => buttons(d.params).some((b) => b.callback_data === `cmp:start:${id}`));
    expect(revised.text).toContain('Variants: default, de');
    const de = await withTestDb((db) => db.select().from(campaignMessagesTable).where(eq(campaignMessagesTable.campaignId, id)));
    expect(de.find((m) => m.languageCode === 'de')).toMatchObject({ kind: 'photo', fileId: 'large', caption: 'Große Neuigkeiten' });

    // Preview: every variant to the admin's chat.
    seq = await lastSeq();
    await press(admin, `cmp:preview:${id}`, revised);
    await nextDelivery(seq, (d) => d.method === 'sendMessage' && d.text === 'Big news\nThe rest of it');
    await nextDelivery(seq, (d) => d.method === 'sendPhoto' && d.caption === 'Große Neuigkeiten');

    // Start: the card turns into a progress bar, edited in place by the campaign. Telegram answers
    // slowly meanwhile, so the campaign is still sending when it is paused.
    seq = await lastSeq();
    await configureTelegram({ latencyMs: 400 });
    await press(admin, `cmp:start:${id}`, revised);
    const running = await nextCall(
      'editMessageText',
      seq,
      (c) => c.params.message_id === revised.message_id && String(c.params.text).includes('Sending'),
    );
    expect(String(running.params.text)).toMatch(/[▓░]{10} \d+%/);
    expect(buttons(running.params).map((b) => b.callback_data)).toEqual([`cmp:pause:${id}`, `cmp:cancel:${id}`]);

    seq = await lastSeq();
    await press(admin, `cmp:pause:${id}`, revised);
    const paused = await nextCall('editMessageText', seq, (c) => String(c.params.text).includes('Paused'));
    expect(buttons(paused.params).map((b) => b.callback_data)).toEqual([`cmp:resume:${id}`, `cmp:cancel:${id}`]);
    await configureTelegram({ latencyMs: 4 });

    // A transition the campaign cannot make is refused with its reason, in an alert.
    seq = await lastSeq();
    await press(admin, `cmp:pause:${id}`, revised);
    const refused = await nextCall('answerCallbackQuery', seq, () => true);
    expect(refused.params).toMatchObject({ text: 'cannot pause a paused campaign', show_alert: true });

    await press(admin, `cmp:cancel:${id}`, revised);
    const cancelled = await nextCall('editMessageText', seq, (c) => String(c.params.text).includes('Cancelled'));
    expect(buttons(cancelled.params)).toEqual([]);
    const row = await withTestDb(async (db) => (await db.select().from(campaignsTable).where(eq(campaignsTable.id, id)))[0]);
    expect(row?.status).toBe('cancelled');
  });

  it('says why a post cannot be broadcast, and goes back from the language picker', async () => {
    let seq = await lastSeq();
    await post(admin, { photo: [{ file_id: 'p', file_unique_id: 'p', width: 1, height: 1 }], caption: 'x'.repeat(1100) });
    const refusal = await nextDelivery(seq, (d) => d.text?.startsWith("This post can't be broadcast") ?? false);
    expect(refusal.text).toContain('longer than 1024 characters');
    seq = await lastSeq();
    await post(admin, { text: 'Back and forth' });
    const card = await nextDelivery(seq, (d) => buttons(d.params).some((b) => b.callback_data.startsWith('cmp:start:')));
    const id = buttons(card.params)[0]?.callback_data.split(':')[2] as string;
    seq = await lastSeq();
    await press(admin, `cmp:lang:${id}`, card);
    await nextCall('editMessageReplyMarkup', seq, () => true);
    await press(admin, `cmp:card:${id}`, card);
    const back = await nextCall('editMessageText', seq, (c) => c.params.message_id === card.message_id && c.status === 200);
    expect(String(back.params.text)).toContain('Back and forth');
    expect(buttons(back.params).map((b) => b.callback_data.split(':')[1])).toEqual(['lang', 'preview', 'start', 'cancel']);
  });

  it('shows nothing of it to anyone else', async () => {
    const stranger = uniqueTelegramId();
    const before = (await calls('answerCallbackQuery')).length;
    await post(stranger, { text: 'Please broadcast this' });
    await press(stranger, 'cmp:start:00000000-0000-7000-8000-000000000000', { message_id: 1 });
    // The webhook finished both updates; had the bot answered, the stand-in would hold it by now.
    expect(await deliveries(stranger)).toEqual([]);
    expect(await calls('answerCallbackQuery')).toHaveLength(before);
    const drafts = await withTestDb((db) => db.select().from(campaignsTable).where(eq(campaignsTable.title, 'Please broadcast this')));
    expect(drafts).toEqual([]);
  });

  it('tells the admin when a button points at a campaign that does not exist', async () => {
    const seq = await lastSeq();
    await press(admin, 'cmp:start:00000000-0000-7000-8000-000000000000', { message_id: 1 });
    const answer = await nextCall('answerCallbackQuery', seq, () => true);
    expect(answer.params).toMatchObject({ text: 'This campaign no longer exists.', show_alert: true });
  });
});

describe('posts as variants', () => {
  const base = { message_id: 7, date: 1_800_000_000, chat: chat(1) } as const;
  it('keeps the structure of each kind of post', () => {
    expect(variantOf({ ...base, text: 'hi', entities: [{ type: 'bold', offset: 0, length: 2 }] } as Message, 'ru')).toEqual({
      kind: 'text',
      language_code: 'ru',
      text: 'hi',
      entities: [{ type: 'bold', offset: 0, length: 2 }],
    });
    const animation = { file_id: 'gif', file_unique_id: 'g', width: 1, height: 1, duration: 1 };
    expect(variantOf({ ...base, animation, document: { file_id: 'doc', file_unique_id: 'd' } } as Message, null)).toMatchObject({
      kind: 'animation',
      file_id: 'gif',
    });
    expect(variantOf({ ...base, video: { ...animation, file_id: 'vid' }, caption: 'c' } as Message, null)).toMatchObject({
      kind: 'video',
      file_id: 'vid',
      caption: 'c',
    });
    expect(variantOf({ ...base, document: { file_id: 'doc', file_unique_id: 'd' } } as Message, null)).toMatchObject({ kind: 'document' });
    expect(variantOf({ ...base, sticker: { file_id: 's' } } as unknown as Message, null)).toEqual({
      kind: 'copy',
      language_code: null,
      from_chat_id: 1,
      message_id: 7,
    });
  });

  it('names a draft by the first line of its post, or its date', () => {
    expect(titleOf({ ...base, text: `${'x'.repeat(80)}\nmore` } as Message)).toBe(`${'x'.repeat(59)}…`);
    expect(titleOf({ ...base, caption: 'Caption line' } as Message)).toBe('Caption line');
    expect(titleOf({ ...base } as Message)).toBe('Post of 2027-01-15 08:00');
  });
});
