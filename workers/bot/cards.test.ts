import { runDurableObjectAlarm, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { eq } from 'drizzle-orm';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { CampaignObject } from '../../durable-objects/campaign/campaign.do';
import type { Snapshot } from '../../durable-objects/campaign/campaign.engine';
import { campaignCard } from '../campaigns/campaign-view';
import { campaignsTable } from '../campaigns/campaigns.schema';
import { admin, buttons, campaignOf, draft, lastSeq, nextCall, press } from '../testing/admin-chat';
import { addUsers, withTestDb } from '../testing/db';
import { callApi } from '../testing/http';
import { poll } from '../testing/poll';
import { calls, configureTelegram, type Delivery } from '../testing/telegram';
import { translator } from './i18n';

const campaign = (id: string) => env.CAMPAIGN.get(env.CAMPAIGN.idFromName(id));

/** The campaign's periodic refresh (its alarm: the row and the cards), now rather than within 3 s. */
const refresh = (id: string) => runInDurableObject(campaign(id), (o: CampaignObject) => o.alarm());

/** The edits of the card's message after `seq`: [status of the answer, text asked for]. */
const editsOf = async (card: Delivery, seq: number) =>
  (await calls('editMessageText'))
    .filter((c) => c.seq > seq && c.params.message_id === card.message_id)
    .map((c) => [c.status, c.params.text]);

const act = async (id: string, action: string) =>
  expect((await callApi(`/campaigns/${id}/${action}`, { method: 'POST' })).status).toBe(200);

/**
 * Starts the campaign of `card` from that card, then pauses it there while Telegram is slow, so it
 * cannot have finished: 60 more users take its one sender ~4 s at 400 ms a call. (With the admin
 * alone, the one send and the pause both took ~0.5 s, and the send won once in eight full runs.)
 */
async function startAndPauseFrom(card: Delivery): Promise<void> {
  const id = campaignOf(card);
  await addUsers(60);
  let seq = await lastSeq();
  await configureTelegram({ latencyMs: 400 });
  try {
    await press(admin, `cmp:start:${id}`, card);
    await nextCall('editMessageText', seq, (c) => c.params.message_id === card.message_id && String(c.params.text).includes('Sending'));
    seq = await lastSeq();
    await press(admin, `cmp:pause:${id}`, card);
    await nextCall('editMessageText', seq, (c) => c.params.message_id === card.message_id && String(c.params.text).includes('Paused'));
  } finally {
    await configureTelegram({ latencyMs: 4 });
  }
}

/** Waits until the paused campaign's counters stop moving: its `total` counted, and no send left to report. */
function settled(id: string, total: number): Promise<Snapshot> {
  return poll(
    async () => {
      const s = await campaign(id).snapshot();
      return s?.status === 'paused' && s.total === total && s.in_flight === 0 ? s : undefined;
    },
    { what: 'the paused campaign to settle' },
  );
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('the campaign card in the admin chat', () => {
  it('keeps following the campaign when the admin brought it up to date by hand', async () => {
    const card = await draft('Brought up to date');
    const id = campaignOf(card);
    // Started and paused by an operator, in the console: the card in the chat still shows the draft.
    await configureTelegram({ latencyMs: 400 });
    await act(id, 'start');
    await act(id, 'pause');
    await configureTelegram({ latencyMs: 4 });
    // Its audience is the admin, this file's one user so far.
    const paused = await settled(id, 1);
    // The refresh that start set up runs now if it has not yet: from here on, only this test's refreshes come round.
    await runDurableObjectAlarm(campaign(id));

    // The admin taps Start on the stale card (refused: it is paused), then Add language and Back.
    let seq = await lastSeq();
    await press(admin, `cmp:start:${id}`, card);
    expect((await nextCall('answerCallbackQuery', seq, () => true)).params).toMatchObject({
      text: 'cannot start a paused campaign',
      show_alert: true,
    });
    await press(admin, `cmp:lang:${id}`, card);
    await nextCall('editMessageReplyMarkup', seq, () => true);
    await press(admin, `cmp:card:${id}`, card);
    const back = await nextCall('editMessageText', seq, (c) => c.params.message_id === card.message_id);
    expect(back.params.text).toBe(campaignCard(paused, { title: 'Brought up to date', languages: [null] }, translator('en')).text);

    // The next refresh finds the card already showing the campaign: Telegram says "not modified".
    seq = await lastSeq();
    await refresh(id);
    expect(await editsOf(card, seq)).toEqual([[400, back.params.text]]);
    // The one after knows it and does not ask again.
    seq = await lastSeq();
    await refresh(id);
    expect(await editsOf(card, seq)).toEqual([]);

    // The card still follows the campaign.
    seq = await lastSeq();
    await act(id, 'cancel');
    const cancelled = await nextCall('editMessageText', seq, (c) => c.params.message_id === card.message_id);
    expect(cancelled.status).toBe(200);
    expect(String(cancelled.params.text)).toContain('✖️ Cancelled');
  });

  it('gives up on a card the admin deleted, and the campaign is not held up by it', async () => {
    const card = await draft('Deleted card');
    const id = campaignOf(card);
    await startAndPauseFrom(card);
    // The card shows the settled pause before it goes: a send reported late edits nothing after `seq`.
    await settled(id, 61);
    await refresh(id);
    await configureTelegram({ deletedMessages: [{ chat_id: admin, message_id: card.message_id }] });
    const warnings: Record<string, unknown>[] = [];
    vi.spyOn(console, 'warn').mockImplementation((line: unknown) => {
      warnings.push(JSON.parse(String(line)) as Record<string, unknown>);
    });

    const seq = await lastSeq();
    await act(id, 'cancel');
    const dropped = await poll(async () => warnings.find((w) => w.event === 'campaign_progress_dropped'), { what: 'the card dropped' });
    expect(dropped).toMatchObject({ campaign: id, chat_id: admin, error: 'Bad Request: message to edit not found' });
    // Telegram's refusal is final: the next refresh does not try that card again.
    await refresh(id);
    expect((await editsOf(card, seq)).map(([status]) => status)).toEqual([400]);
    expect(warnings.filter((w) => String(w.event).startsWith('campaign_progress')).map((w) => w.event)).toEqual([
      'campaign_progress_dropped',
    ]);
    const row = await withTestDb(async (db) => (await db.select().from(campaignsTable).where(eq(campaignsTable.id, id)))[0]);
    expect(row?.status).toBe('cancelled');
    await configureTelegram({ deletedMessages: [] });
  });
});

describe('the campaign card', () => {
  const t = translator('en');
  const snapshot = (over: Partial<Snapshot>): Snapshot => ({
    id: '01a22c73-3842-766b-a661-893266ca6c20',
    usage: {} as Snapshot['usage'],
    status: 'draft',
    total: 0,
    sent: 0,
    failed: 0,
    blocked: 0,
    unknown: 0,
    pending: 0,
    in_flight: 0,
    rate_per_second: 30,
    paid_broadcast: false,
    scheduled_at: null,
    started_at: null,
    finished_at: null,
    correlation_id: null,
    ...over,
  });

  it('says when a scheduled campaign starts, and that it is a paid broadcast', () => {
    const card = campaignCard(
      snapshot({ status: 'scheduled', scheduled_at: '2027-01-15T08:30:00.000Z', paid_broadcast: true, rate_per_second: 500, total: 0 }),
      { title: 'New year <sale>', languages: [null, 'de'] },
      t,
    );
    expect(card.text).toBe(
      [
        '📣 <b>New year &lt;sale&gt;</b>',
        '🗓 Scheduled for 2027-01-15 08:30 UTC',
        '░░░░░░░░░░ 0%',
        'Sent 0 · failed 0 · blocked 0 · unknown 0 · pending 0 of 0',
        'Variants: default, de',
        'Rate: 500/s, paid broadcast',
      ].join('\n'),
    );
    expect(buttons(card).map((b) => b.text)).toEqual(['▶️ Start', '✖️ Cancel']);
  });

  it('shows a campaign that had no one to send to as done, and a draft without its audience count', () => {
    const done = campaignCard(snapshot({ status: 'completed' }), { title: 'Nobody home', languages: [null] }, t);
    expect(done.text.split('\n').slice(1, 3)).toEqual(['✅ Completed', '▓▓▓▓▓▓▓▓▓▓ 100%']);
    expect(buttons(done)).toEqual([]);
    const draftCard = campaignCard(snapshot({}), { title: 'Not counted', languages: [null] }, t);
    expect(draftCard.text).toBe(['📣 <b>Not counted</b>', '📝 Draft', 'Variants: default', 'Rate: 30/s'].join('\n'));
  });
});
