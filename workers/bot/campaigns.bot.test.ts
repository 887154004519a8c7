import { eq } from 'drizzle-orm';
import type { Message } from 'grammy/types';
import { describe, expect, it, vi } from 'vitest';
import { campaignMessagesTable, campaignsTable } from '../campaigns/campaigns.schema';
import { admin, buttons, campaignOf, chat, draft, lastSeq, nextCall, nextDelivery, post, press } from '../testing/admin-chat';
import { addUsers, uniqueTelegramId, withTestDb } from '../testing/db';
import { callApi } from '../testing/http';
import { calls, configureTelegram, type Delivery, deliveries } from '../testing/telegram';
import { titleOf, variantOf } from './campaigns.bot';

/** Posts `content` as the admin and returns the bot's answer that it cannot be broadcast. */
async function refusalOf(content: Record<string, unknown>): Promise<Delivery> {
  const seq = await lastSeq();
  await post(admin, content);
  return nextDelivery(seq, (d) => d.text?.startsWith("This post can't be broadcast") ?? false);
}

describe('campaigns in the admin chat', () => {
  it('drafts a post, adds a language, previews, starts, shows progress, pauses and cancels', async () => {
    let seq = await lastSeq();
    await post(admin, { text: 'Big news\nThe rest of it', entities: [{ type: 'bold', offset: 0, length: 8 }] });
    const card = await nextDelivery(seq, (d) => buttons(d.params).some((b) => b.callback_data.startsWith('cmp:start:')));
    const id = campaignOf(card);
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
    // slowly meanwhile and the audience is 60 more users (4 s at 6 connections of 400 ms), so the
    // campaign is still sending when it is paused: with the one user there was, its send and the pause
    // both took ~0.5 s, and the send won once in seven full runs.
    await addUsers(60);
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
    const refusal = await refusalOf({ photo: [{ file_id: 'p', file_unique_id: 'p', width: 1, height: 1 }], caption: 'x'.repeat(1100) });
    expect(refusal.text).toContain('longer than 1024 characters');
    let seq = await lastSeq();
    await post(admin, { text: 'Back and forth' });
    const card = await nextDelivery(seq, (d) => buttons(d.params).some((b) => b.callback_data.startsWith('cmp:start:')));
    const id = campaignOf(card);
    seq = await lastSeq();
    await press(admin, `cmp:lang:${id}`, card);
    await nextCall('editMessageReplyMarkup', seq, () => true);
    await press(admin, `cmp:card:${id}`, card);
    const back = await nextCall('editMessageText', seq, (c) => c.params.message_id === card.message_id && c.status === 200);
    expect(String(back.params.text)).toContain('Back and forth');
    expect(buttons(back.params).map((b) => b.callback_data.split(':')[1])).toEqual(['lang', 'preview', 'start', 'cancel']);
  });

  it('drafts nothing from a service message, and says once per album that albums are not broadcast', async () => {
    const count = async () => (await withTestDb((db) => db.select().from(campaignsTable))).length;
    const before = await count();
    const seq = await lastSeq();
    // A pin, an auto-delete timer: nothing to broadcast.
    await post(admin, { pinned_message: { message_id: 1, date: 0, chat: chat(admin), text: 'pinned card' } });
    await post(admin, { message_auto_delete_timer_changed: { message_auto_delete_time: 86_400 } });
    // An album arrives as one update per photo.
    const photo = (id: string) => ({ photo: [{ file_id: id, file_unique_id: id, width: 1, height: 1 }], media_group_id: 'album-1' });
    for (const id of ['a', 'b', 'c']) await post(admin, { ...photo(id), ...(id === 'a' ? { caption: 'Our summer' } : {}) });
    const told = await nextDelivery(seq, (d) => d.text?.startsWith("Albums can't be broadcast") ?? false);
    expect(told.chat_id).toBe(admin);
    // The webhook finished every update: a draft or a second reply would be there by now.
    expect((await deliveries(admin)).filter((d) => d.seq > seq).map((d) => d.text)).toEqual([told.text]);
    expect(await count()).toBe(before);
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

describe('language variants from the chat', () => {
  /** Opens the picker on `card` and asks for the `language` variant: the admin's next post becomes it. */
  async function askFor(card: Delivery, language: string): Promise<void> {
    const seq = await lastSeq();
    await press(admin, `cmp:lang:${campaignOf(card)}:${language}`, card);
    await nextDelivery(seq, (d) => d.text === `Send the post for ${language}: it becomes that language's variant.`);
  }

  it('keeps waiting for the variant while the post for it cannot be broadcast', async () => {
    const card = await draft('Spring sale');
    const id = campaignOf(card);
    await askFor(card, 'de');
    const refusal = await refusalOf({ photo: [{ file_id: 'big', file_unique_id: 'b', width: 1, height: 1 }], caption: 'ü'.repeat(1025) });
    expect(refusal.text).toBe("This post can't be broadcast: messages.1.caption: longer than 1024 characters");

    // The next post is still taken as the German variant, not as a new draft.
    const seq = await lastSeq();
    await post(admin, { text: 'Frühlingsangebot' });
    const revised = await nextDelivery(seq, (d) => buttons(d.params).some((b) => b.callback_data === `cmp:start:${id}`));
    expect(revised.text).toContain('Variants: default, de');
    const stored = await withTestDb((db) => db.select().from(campaignMessagesTable).where(eq(campaignMessagesTable.campaignId, id)));
    expect(stored.map((m) => [m.languageCode, m.kind, m.text])).toEqual([
      [null, 'text', 'Spring sale'],
      ['de', 'text', 'Frühlingsangebot'],
    ]);
    const drafts = await withTestDb((db) => db.select().from(campaignsTable).where(eq(campaignsTable.title, 'Frühlingsangebot')));
    expect(drafts).toEqual([]);
  });

  it('stops waiting for a variant once the campaign has left draft', async () => {
    const card = await draft('Closing down');
    const id = campaignOf(card);
    await askFor(card, 'fr');
    const seq = await lastSeq();
    await press(admin, `cmp:cancel:${id}`, card);
    await nextCall('editMessageText', seq, (c) => c.params.message_id === card.message_id && String(c.params.text).includes('Cancelled'));

    const refusal = await refusalOf({ text: 'Fermeture' });
    expect(refusal.text).toBe("This post can't be broadcast: cannot change the message of a cancelled campaign");

    // The admin's next post is a draft of its own again.
    const next = await draft('Open again');
    expect(campaignOf(next)).not.toBe(id);
    const variants = await withTestDb((db) => db.select().from(campaignMessagesTable).where(eq(campaignMessagesTable.campaignId, id)));
    expect(variants.map((m) => m.languageCode)).toEqual([null]);
  });
});

describe('previews from the chat', () => {
  /** Makes the admin's post `content` the `language` variant of the draft of `card`; returns the revised card. */
  async function addVariant(card: Delivery, language: string, content: Record<string, unknown>): Promise<Delivery> {
    const id = campaignOf(card);
    let seq = await lastSeq();
    await press(admin, `cmp:lang:${id}:${language}`, card);
    await nextDelivery(seq, (d) => d.text?.startsWith(`Send the post for ${language}`) ?? false);
    seq = await lastSeq();
    await post(admin, content);
    return nextDelivery(seq, (d) => buttons(d.params).some((b) => b.callback_data === `cmp:start:${id}`));
  }

  /** Presses Preview on `card`; returns what the button was answered and the sends it made. */
  async function preview(card: Delivery) {
    const seq = await lastSeq();
    await press(admin, `cmp:preview:${campaignOf(card)}`, card);
    const answer = await nextCall('answerCallbackQuery', seq, () => true);
    const sent = (await deliveries(admin)).filter((d) => d.seq > seq && d.seq < answer.seq);
    return { answer: answer.params, sent: sent.map((d) => [d.method, d.text ?? d.caption ?? null]) };
  }

  it('sends every variant, the default first, and says when Telegram limits or fails one', async () => {
    let card = await draft('Three languages');
    card = await addVariant(card, 'de', { text: 'Drei Sprachen' });
    card = await addVariant(card, 'ru', { text: 'Три языка' });
    expect(await preview(card)).toEqual({
      answer: { callback_query_id: expect.any(String), text: 'Preview sent.' },
      sent: [
        ['sendMessage', 'Three languages'],
        ['sendMessage', 'Drei Sprachen'],
        ['sendMessage', 'Три языка'],
      ],
    });

    // Telegram asks the bot to wait: nothing is sent, the admin is told to try later.
    await configureTelegram({ failNext: { status: 429, count: 1, retryAfter: 1 } });
    expect(await preview(card)).toEqual({
      answer: { callback_query_id: expect.any(String), text: 'Telegram asked the bot to wait; try again later', show_alert: true },
      sent: [],
    });

    // Telegram delivers, then fails its answer: the admin is told it may have arrived, and it is not sent again.
    await configureTelegram({ failNext: { status: 502, count: 1, delivered: true } });
    expect(await preview(card)).toEqual({
      answer: {
        callback_query_id: expect.any(String),
        text: 'Telegram did not answer (Bad Gateway); the preview may have been delivered',
        show_alert: true,
      },
      sent: [['sendMessage', 'Three languages']],
    });
  });

  it('says so when Telegram refuses a variant', async () => {
    const card = await draft('With a sticker');
    // A sticker is kept as a copy of the admin's message; the admin deletes that message before the preview.
    const sticker = { file_id: 'stk', file_unique_id: 's', type: 'regular', width: 512, height: 512, is_animated: false, is_video: false };
    const revised = await addVariant(card, 'es', { sticker });
    const stored = await withTestDb((db) =>
      db
        .select()
        .from(campaignMessagesTable)
        .where(eq(campaignMessagesTable.campaignId, campaignOf(card))),
    );
    const copy = stored.find((m) => m.languageCode === 'es');
    expect(copy).toMatchObject({ kind: 'copy', copyFromChatId: admin });
    await configureTelegram({ deletedMessages: [{ chat_id: admin, message_id: copy?.copyMessageId }] });
    expect(await preview(revised)).toEqual({
      answer: { callback_query_id: expect.any(String), text: 'Bad Request: message to copy not found', show_alert: true },
      sent: [['sendMessage', 'With a sticker']],
    });
    await configureTelegram({ deletedMessages: [] });
  });
});

describe('the card after its campaign moved on', () => {
  it('goes back from a stale language picker to the campaign as it is now', async () => {
    const card = await draft('Stale picker');
    const id = campaignOf(card);
    let seq = await lastSeq();
    await press(admin, `cmp:lang:${id}`, card);
    await nextCall('editMessageReplyMarkup', seq, () => true);
    // The campaign is cancelled from elsewhere (here: the API) while the picker is open.
    expect((await callApi(`/campaigns/${id}/cancel`, { method: 'POST' })).status).toBe(200);

    seq = await lastSeq();
    await press(admin, `cmp:card:${id}`, card);
    const back = await nextCall('editMessageText', seq, (c) => c.params.message_id === card.message_id);
    expect(back.status).toBe(200);
    expect(String(back.params.text)).toBe(
      [
        '📣 <b>Stale picker</b>',
        '✖️ Cancelled',
        '░░░░░░░░░░ 0%',
        'Sent 0 · failed 0 · blocked 0 · unknown 0 · pending 0 of 0',
        'Variants: default',
        'Rate: 30/s',
      ].join('\n'),
    );
    expect(buttons(back.params)).toEqual([]);

    // Pressed again (a double tap): the card already shows it, and the button is answered quietly.
    seq = await lastSeq();
    await press(admin, `cmp:card:${id}`, card);
    const again = await nextCall('answerCallbackQuery', seq, () => true);
    expect(again.params).toEqual({ callback_query_id: expect.any(String) });
    const edits = (await calls('editMessageText')).filter((c) => c.seq > seq && c.seq < again.seq);
    expect(edits.map((c) => [c.params.message_id, c.status])).toEqual([[card.message_id, 400]]);
  });
});

describe('when Telegram fails the bot in the admin chat', () => {
  /** Error lines the Worker logs while `run` goes on. */
  async function errorsDuring(run: () => Promise<unknown>): Promise<Record<string, unknown>[]> {
    const lines: Record<string, unknown>[] = [];
    const spy = vi.spyOn(console, 'error').mockImplementation((line: unknown) => {
      lines.push(JSON.parse(String(line)) as Record<string, unknown>);
    });
    try {
      await run();
    } finally {
      spy.mockRestore();
    }
    return lines;
  }

  it('drafts the post even when its card cannot be delivered, and logs why', async () => {
    await configureTelegram({ failNext: { status: 500, count: 1 } });
    let answered: Response | undefined;
    const errors = await errorsDuring(async () => {
      answered = await post(admin, { text: 'Card lost on the way' });
    });
    // Handled, so Telegram does not deliver the post again (a second draft).
    expect(answered?.status).toBe(200);
    expect(errors).toMatchObject([
      { event: 'bot_feature_failed', error: 'TelegramCallError in middleware: Telegram may have carried it out: Internal Server Error' },
    ]);
    const drafts = await withTestDb((db) => db.select().from(campaignsTable).where(eq(campaignsTable.title, 'Card lost on the way')));
    expect(drafts).toMatchObject([{ status: 'draft' }]);
  });

  it('logs a card Telegram will not edit, rather than showing its error to the admin', async () => {
    const card = await draft('Card deleted by the admin');
    const id = campaignOf(card);
    let seq = await lastSeq();
    await press(admin, `cmp:lang:${id}`, card);
    await nextCall('editMessageReplyMarkup', seq, () => true);
    await configureTelegram({ deletedMessages: [{ chat_id: admin, message_id: card.message_id }] });
    seq = await lastSeq();
    const errors = await errorsDuring(() => press(admin, `cmp:card:${id}`, card));
    await configureTelegram({ deletedMessages: [] });
    expect(errors).toMatchObject([{ event: 'bot_feature_failed', error: expect.stringContaining('message to edit not found') }]);
    expect((await calls()).filter((c) => c.seq > seq).map((c) => [c.method, c.status])).toEqual([['editMessageText', 400]]);
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
    // What a variant would drop — a spoiler, the caption above the media, a link preview's options — a copy keeps.
    const spoiler = { ...base, photo: [{ file_id: 'p', file_unique_id: 'p', width: 1, height: 1 }], has_media_spoiler: true };
    expect(variantOf(spoiler as Message, null)).toMatchObject({ kind: 'copy', message_id: 7 });
    const noPreview = { ...base, text: 'https://example.com', link_preview_options: { is_disabled: true } };
    expect(variantOf(noPreview as Message, null)).toMatchObject({ kind: 'copy' });
  });

  it('names a draft by the first line of its post, or its date', () => {
    expect(titleOf({ ...base, text: `${'x'.repeat(80)}\nmore` } as Message)).toBe(`${'x'.repeat(59)}…`);
    expect(titleOf({ ...base, caption: 'Caption line' } as Message)).toBe('Caption line');
    expect(titleOf({ ...base } as Message)).toBe('Post of 2027-01-15 08:00');
    // Cut between characters: an emoji across the cut stays whole or goes whole, never half a pair.
    const title = titleOf({ ...base, text: `${'x'.repeat(58)}🎉${'y'.repeat(10)}` } as Message);
    expect(title).toBe(`${'x'.repeat(58)}🎉…`);
    expect(title.isWellFormed()).toBe(true);
  });
});
