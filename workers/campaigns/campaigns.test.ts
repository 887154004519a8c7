import { createExecutionContext, createMessageBatch, evictDurableObject, getQueueResult, runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { eq, inArray } from 'drizzle-orm';
import { describe, expect, it, vi } from 'vitest';
import type { CampaignState } from '../../durable-objects/campaign/campaign.engine';
import { Ledger } from '../../durable-objects/campaign/ledger';
import { botGate } from '../../durable-objects/gate/gate.do';
import { getConfig } from '../core/config';
import worker from '../index';
import { uniqueTelegramId, withTestDb } from '../testing/db';
import { call, callApi, json } from '../testing/http';
import { poll } from '../testing/poll';
import { configureTelegram, deliveries, telegramStats } from '../testing/telegram';
import { usersTable } from '../users/users.schema';
import type { CampaignJson } from './campaigns.routes';
import { campaignMessagesTable } from './campaigns.schema';
import { encodeRecipients } from './recipients.envelope';
import { processRecipientsMessages } from './sender';

/** Users with a language code of their own, so the campaign's audience is exactly them. */
async function seedUsers(n: number, tag: string): Promise<{ id: number; lang: string }[]> {
  const users = Array.from({ length: n }, (_, i) => ({ id: uniqueTelegramId(), lang: `${i % 2 ? 'ru' : 'en'}-${tag}` }));
  await withTestDb((db) =>
    db.insert(usersTable).values(users.map((u) => ({ telegramId: u.id, fullName: `U${u.id}`, languageCode: u.lang }))),
  );
  return users;
}

const messages = [
  { language_code: null, text: 'Hello, everyone' },
  { language_code: 'ru', text: 'Привет всем' },
];

async function create(body: Record<string, unknown>): Promise<CampaignJson> {
  const res = await callApi('/campaigns', { body: { title: 'Test', messages, ...body } });
  expect(res.status).toBe(201);
  return json<CampaignJson>(res);
}

const act = (id: string, action: string) => callApi(`/campaigns/${id}/${action}`, { method: 'POST' });
const get = async (id: string) => json<CampaignJson>(await callApi(`/campaigns/${id}`));
const untilStatus = (id: string, status: string, timeoutMs = 20_000) =>
  poll(
    async () => {
      const c = await get(id);
      return c.status === status ? c : undefined;
    },
    { timeoutMs, what: `campaign ${status}` },
  );

describe('campaigns', () => {
  it('reaches every active user of the audience exactly once, in their language', async () => {
    const tag = crypto.randomUUID().slice(0, 8);
    const users = await seedUsers(40, tag);
    const [blockedUser, missingUser] = users;
    await configureTelegram({ blockedChats: [blockedUser?.id], missingChats: [missingUser?.id] });
    const campaign = await create({ audience: { language_codes: [`en-${tag}`, `ru-${tag}`] } });
    expect(campaign).toMatchObject({ status: 'draft', rate_per_second: 30 });

    expect((await act(campaign.id, 'start')).status).toBe(200);
    const done = await untilStatus(campaign.id, 'completed');
    expect(done).toMatchObject({ total: 40, sent: 38, blocked: 1, failed: 1, unknown: 0, pending: 0 });
    // One queue message of 40 recipients (written, read, deleted). Postgres: the audience counted, one
    // page read, one deactivation, the row written at start and at completion, and one live refresh if
    // the run outlasts the object's 3 s tick. (Its DO requests follow the exchanges' timing: the
    // benchmark reports them per 1,000 recipients.)
    const usage = (done as CampaignJson & { usage: Record<string, number> }).usage;
    expect(usage.queue_operations).toBe(3);
    expect([5, 6]).toContain(usage.db_round_trips);

    for (const u of users.slice(2)) {
      const got = await deliveries(u.id);
      expect(got, `user ${u.id}`).toHaveLength(1);
      expect(got[0]?.text).toBe(u.lang.startsWith('ru') ? 'Привет всем' : 'Hello, everyone');
    }
    const stored = await withTestDb((db) =>
      db
        .select()
        .from(usersTable)
        .where(inArray(usersTable.telegramId, [blockedUser?.id as number])),
    );
    expect(stored[0]?.isActive).toBe(false);
    expect((await act(campaign.id, 'pause')).status).toBe(409);
  });

  it('refuses invalid bodies with the field named', async () => {
    const noDefault = await callApi('/campaigns', { body: { title: 'x', messages: [{ language_code: 'ru', text: 'hi' }] } });
    expect(noDefault.status).toBe(400);
    expect(await json(noDefault)).toMatchObject({ field: 'messages' });
    const tooLong = await callApi('/campaigns', { body: { title: 'x', messages: [{ language_code: null, text: 'x'.repeat(4097) }] } });
    expect(await json(tooLong)).toMatchObject({ field: 'messages.0.text' });
    const caption = await callApi('/campaigns', {
      body: { title: 'x', messages: [{ language_code: null, photo: 'file', caption: 'c'.repeat(1025) }] },
    });
    expect(await json(caption)).toMatchObject({ field: 'messages.0.caption' });
    const fast = await callApi('/campaigns', { body: { title: 'x', messages, rate_per_second: 31 } });
    expect(await json(fast)).toMatchObject({ field: 'rate_per_second' });
    const noTitle = await callApi('/campaigns', { body: { messages } });
    expect(await json(noTitle)).toMatchObject({ field: 'title' });
    // Each of these reached Postgres and came back a 500.
    const yearZero = await callApi('/campaigns', { body: { title: 'x', messages, scheduled_at: '0000-01-01T00:00:00Z' } });
    expect(await json(yearZero)).toMatchObject({ field: 'scheduled_at' });
    const hugeId = await callApi('/campaigns', {
      body: { title: 'x', messages: [{ language_code: null, copy: { from_chat_id: 1, message_id: 3_000_000_000 } }] },
    });
    expect(await json(hugeId)).toMatchObject({ field: 'messages.0.copy.message_id' });
    const nul = await callApi('/campaigns', { body: { title: 'a\u0000b', messages } });
    expect(nul.status).toBe(400);
    expect(await json(nul)).toMatchObject({ field: 'title' });
  });

  it('answers 409 to impossible transitions and 404 to unknown campaigns', async () => {
    const campaign = await create({ audience: { language_codes: ['zz-none'] } });
    expect((await act(campaign.id, 'pause')).status).toBe(409);
    expect((await act(campaign.id, 'resume')).status).toBe(409);
    expect((await act(campaign.id, 'cancel')).status).toBe(200);
    expect((await act(campaign.id, 'start')).status).toBe(409);
    expect((await act(crypto.randomUUID(), 'start')).status).toBe(404);
  });

  it('pauses within a second, resumes without duplicates, and cancel stops for good', async () => {
    const tag = crypto.randomUUID().slice(0, 8);
    const users = await seedUsers(60, tag);
    const campaign = await create({ audience: { language_codes: [`en-${tag}`, `ru-${tag}`] }, rate_per_second: 20 });
    await act(campaign.id, 'start');
    await poll(async () => ((await get(campaign.id)).sent >= 10 ? true : undefined));
    const paused = await act(campaign.id, 'pause');
    expect(paused.status).toBe(200);
    const pausedAt = Date.now();
    const ids = new Set(users.map((u) => u.id));
    const mine = async () => (await deliveries()).filter((d) => ids.has(d.chat_id));
    // Once every claimed send is reported, the paused campaign can send nothing more: by then the
    // last delivery was at most a second after the pause, and each one is counted.
    const drained = await poll(async () => {
      const c = await get(campaign.id);
      return c.in_flight === 0 ? c : undefined;
    });
    const afterPause = await mine();
    const last = Math.max(...afterPause.map((d) => d.at));
    expect(last - pausedAt).toBeLessThanOrEqual(1000);
    expect(afterPause).toHaveLength(drained.sent);
    expect(drained).toMatchObject({ status: 'paused', pending: 60 - drained.sent });

    expect((await act(campaign.id, 'resume')).status).toBe(200);
    const done = await untilStatus(campaign.id, 'completed');
    expect(done.sent).toBe(60);
    const all = await mine();
    expect(all).toHaveLength(60);
    expect(new Set(all.map((d) => d.chat_id)).size).toBe(60);

    const other = await create({ audience: { language_codes: [`en-${tag}`] }, rate_per_second: 5 });
    await act(other.id, 'start');
    await poll(async () => ((await get(other.id)).sent >= 1 ? true : undefined));
    expect((await act(other.id, 'cancel')).status).toBe(200);
    const cancelledAt = Date.now();
    expect((await get(other.id)).status).toBe('cancelled');
    const stopped = await poll(async () => {
      const c = await get(other.id);
      return c.in_flight === 0 ? c : undefined;
    });
    // Every send it made is counted, and none left more than a second after the cancel.
    const cancelledSends = (await deliveries()).filter((d) => ids.has(d.chat_id)).length - 60;
    expect(cancelledSends).toBe(stopped.sent);
    const afterCancel = (await deliveries()).filter((d) => d.at > cancelledAt + 1000 && ids.has(d.chat_id));
    expect(afterCancel).toEqual([]);
    expect((await act(other.id, 'resume')).status).toBe(409);
  });
});

describe('campaign API', () => {
  it('lists campaigns newest first with a cursor', async () => {
    const a = await create({ audience: { language_codes: ['zz-list'] } });
    const b = await create({ audience: { language_codes: ['zz-list'] } });
    const page = await json<{ campaigns: { id: string }[]; next_cursor: string }>(await callApi('/campaigns?status=draft&limit=1'));
    expect(page.campaigns[0]?.id).toBe(b.id);
    const next = await json<{ campaigns: { id: string }[] }>(await callApi(`/campaigns?status=draft&limit=1&cursor=${page.next_cursor}`));
    expect(next.campaigns[0]?.id).toBe(a.id);
  });

  it('sends a preview to one chat, and says why when Telegram refuses', async () => {
    const campaign = await create({ audience: { language_codes: ['zz-test'] } });
    const chat = uniqueTelegramId();
    const ok = await callApi(`/campaigns/${campaign.id}/preview`, { body: { chat_id: chat, language_code: 'ru' } });
    expect(ok.status).toBe(200);
    expect((await deliveries(chat))[0]?.text).toBe('Привет всем');
    const missing = uniqueTelegramId();
    await configureTelegram({ missingChats: [missing] });
    const refused = await callApi(`/campaigns/${campaign.id}/preview`, { body: { chat_id: missing } });
    expect(refused.status).toBe(422);
    expect(await json(refused)).toMatchObject({ message: 'Bad Request: chat not found' });
  });

  it('previews the content its object holds: the rows are only its read model', async () => {
    const campaign = await create({ audience: { language_codes: ['zz-owner'] } });
    await withTestDb((db) =>
      db.update(campaignMessagesTable).set({ text: 'a stale row' }).where(eq(campaignMessagesTable.campaignId, campaign.id)),
    );
    const chat = uniqueTelegramId();
    expect((await callApi(`/campaigns/${campaign.id}/preview`, { body: { chat_id: chat } })).status).toBe(200);
    expect((await deliveries(chat)).map((d) => d.text)).toEqual(['Hello, everyone']);
  });

  it('stores copies and media variants and sends them as such', async () => {
    const res = await callApi('/campaigns', {
      body: {
        title: 'Media',
        audience: { language_codes: ['zz-media'] },
        messages: [
          { language_code: null, copy: { from_chat_id: 42, message_id: 7 } },
          { language_code: 'de', photo: 'photo-file-id', caption: '<b>Hallo</b>', parse_mode: 'HTML' },
        ],
      },
    });
    expect(res.status).toBe(201);
    const { id } = await json<CampaignJson>(res);
    const chat = uniqueTelegramId();
    expect((await callApi(`/campaigns/${id}/preview`, { body: { chat_id: chat } })).status).toBe(200);
    expect((await callApi(`/campaigns/${id}/preview`, { body: { chat_id: chat, language_code: 'de' } })).status).toBe(200);
    const sent = await deliveries(chat);
    expect(sent.map((d) => [d.method, d.caption ?? null])).toEqual([
      ['copyMessage', null],
      ['sendPhoto', 'Hallo'],
    ]);
  });

  it('streams progress at least once a second and done at the end', async () => {
    const tag = crypto.randomUUID().slice(0, 8);
    await seedUsers(20, tag);
    const campaign = await create({ audience: { language_codes: [`en-${tag}`, `ru-${tag}`] }, rate_per_second: 10 });
    await act(campaign.id, 'start');
    const res = await callApi(`/campaigns/${campaign.id}/events`);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const text = await res.text();
    const events = [...text.matchAll(/event: (\w+)\ndata: (.*)\n/g)].map((m) => ({
      event: m[1],
      data: JSON.parse(m[2] as string) as CampaignJson,
    }));
    const progress = events.filter((e) => e.event === 'progress');
    expect(events.at(-1)).toMatchObject({ event: 'done', data: { status: 'completed', sent: 20 } });
    // 20 messages at 10/s take about 2 s: at least two progress events, sent never going down.
    expect(progress.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < progress.length; i++) expect(progress[i]?.data.sent).toBeGreaterThanOrEqual(progress[i - 1]?.data.sent ?? 0);
  });

  it('starts a scheduled campaign at its time', async () => {
    const tag = crypto.randomUUID().slice(0, 8);
    await seedUsers(3, tag);
    const at = new Date(Date.now() + 1500).toISOString();
    const campaign = await create({ audience: { language_codes: [`en-${tag}`, `ru-${tag}`] }, scheduled_at: at });
    const started = await json<CampaignJson & { scheduled_at: string }>(await act(campaign.id, 'start'));
    expect(started).toMatchObject({ status: 'scheduled', scheduled_at: at });
    const done = await untilStatus(campaign.id, 'completed');
    expect(done.sent).toBe(3);
  });

  it('stops every send for retry_after when Telegram answers 429, then finishes without duplicates', async () => {
    const tag = crypto.randomUUID().slice(0, 8);
    const users = await seedUsers(40, tag);
    // At 10/s a slot leaves every 100 ms: a stall of the local runtime (two test files share two cores)
    // cannot let more than one send already scheduled out before the 429 is read.
    const campaign = await create({ audience: { language_codes: [`en-${tag}`, `ru-${tag}`] }, rate_per_second: 10 });
    const before = await telegramStats();
    await act(campaign.id, 'start');
    await poll(async () => ((await get(campaign.id)).sent >= 5 ? true : undefined));
    await configureTelegram({ failNext: { status: 429, count: 1, retryAfter: 2 } });
    const done = await untilStatus(campaign.id, 'completed', 30_000);
    expect(done).toMatchObject({ sent: 40, unknown: 0, failed: 0 });
    // After the 429 no sender tried again before retry_after had passed (a second one can only be a
    // send that had already left when the first answer came back).
    expect((await telegramStats()).rejected429 - before.rejected429).toBeLessThanOrEqual(2);
    const ids = new Set(users.map((u) => u.id));
    const times = (await deliveries())
      .filter((d) => ids.has(d.chat_id))
      .map((d) => d.at)
      .sort((a, b) => a - b);
    expect(times).toHaveLength(40);
    const longestGap = Math.max(...times.slice(1).map((t, i) => t - (times[i] as number)));
    expect(longestGap).toBeGreaterThanOrEqual(1900);
  });

  it('stops sending at once when a 429 reaches the gate from another isolate', async () => {
    const tag = crypto.randomUUID().slice(0, 8);
    const users = await seedUsers(400, tag);
    // 200/s paid: a sender holds 80 to 200 ms of slots ahead, 16 to 40 sends.
    const campaign = await create({ audience: { language_codes: [`en-${tag}`, `ru-${tag}`] }, paid_broadcast: true, rate_per_second: 200 });
    await act(campaign.id, 'start');
    const sent = await poll(async () => {
      const c = await get(campaign.id);
      return c.sent >= 50 ? c.sent : undefined;
    });
    // Right after an exchange (its reports moved `sent`), when that sender holds the most slots ahead.
    await poll(async () => ((await get(campaign.id)).sent > sent ? true : undefined), { intervalMs: 1 });
    // What a sender in another isolate does on a 429: only the gate hears of it.
    await botGate(env).block(Date.now() + 1000);
    const reported = Date.now();
    const done = await untilStatus(campaign.id, 'completed', 30_000);
    expect(done).toMatchObject({ sent: 400, unknown: 0, failed: 0 });
    const ids = new Set(users.map((u) => u.id));
    const mine = (await deliveries()).filter((d) => ids.has(d.chat_id));
    expect(mine).toHaveLength(400);
    expect(new Set(mine.map((d) => d.chat_id)).size).toBe(400);
    const times = mine.map((d) => d.at);
    // Sends on the wire may still arrive (4 ± 2 ms away); none of the slots held ahead leaves during
    // the wait (without the watch they went on until each sender's next exchange: 36 to 113 ms).
    expect(times.filter((t) => t > reported + 20 && t < reported + 1000)).toEqual([]);
  });

  it('holds back a preview waiting for its slot when a 429 reaches the gate from another isolate', async () => {
    const campaign = await create({ audience: { language_codes: ['zz-test'] } });
    const chats = Array.from({ length: 8 }, () => uniqueTelegramId());
    const granted = (await botGate(env).stats()).granted;
    // Eight previews at once: at 30/s the last of them waits a quarter second for its slot.
    const previews = chats.map((chat_id) => callApi(`/campaigns/${campaign.id}/preview`, { body: { chat_id } }));
    await poll(async () => ((await botGate(env).stats()).granted >= granted + chats.length ? true : undefined), { intervalMs: 5 });
    const reported = Date.now();
    const { blockedUntil } = await botGate(env).block(reported + 1000);
    for (const res of await Promise.all(previews)) expect(res.status).toBe(200);
    const times = (await deliveries()).filter((d) => chats.includes(d.chat_id)).map((d) => d.at);
    expect(times).toHaveLength(chats.length);
    // Those already on the wire aside (4 ± 2 ms away), none left during the wait (without the watch,
    // seven of the eight did).
    expect(times.filter((t) => t > reported + 20 && t < blockedUntil)).toEqual([]);
  });

  it('keeps two campaigns running at once within the bot-wide limit together', async () => {
    const tagA = crypto.randomUUID().slice(0, 8);
    const tagB = crypto.randomUUID().slice(0, 8);
    const users = [...(await seedUsers(45, tagA)), ...(await seedUsers(45, tagB))];
    const a = await create({ audience: { language_codes: [`en-${tagA}`, `ru-${tagA}`] } });
    const b = await create({ audience: { language_codes: [`en-${tagB}`, `ru-${tagB}`] } });
    await Promise.all([act(a.id, 'start'), act(b.id, 'start')]);
    await Promise.all([untilStatus(a.id, 'completed'), untilStatus(b.id, 'completed')]);
    const ids = new Set(users.map((u) => u.id));
    const times = (await deliveries())
      .filter((d) => ids.has(d.chat_id))
      .map((d) => d.at)
      .sort((x, y) => x - y);
    expect(times).toHaveLength(90);
    // 30 a second for the whole bot (two campaigns on their own would make 60): no 1-second window
    // holds more than 32 arrivals, two more than the pace for the jitter between leaving and arriving.
    for (let i = 0; i + 32 < times.length; i++) expect((times[i + 32] as number) - (times[i] as number)).toBeGreaterThanOrEqual(1000);
    expect((times.at(-1) as number) - (times[0] as number)).toBeGreaterThan(2800);
  });
});

describe('campaign resilience', () => {
  /** Every one of `users` got exactly one message. */
  async function expectEachOnce(users: { id: number }[]) {
    const ids = new Set(users.map((u) => u.id));
    const got = (await deliveries()).filter((d) => ids.has(d.chat_id));
    expect(got).toHaveLength(users.length);
    expect(new Set(got.map((d) => d.chat_id)).size).toBe(users.length);
  }

  it('sends nothing twice when a batch is delivered again while its first delivery still runs', async () => {
    const tag = crypto.randomUUID().slice(0, 8);
    const users = await seedUsers(40, tag);
    const campaign = await create({ audience: { language_codes: [`en-${tag}`, `ru-${tag}`] }, rate_per_second: 20 });
    await act(campaign.id, 'start');
    await poll(async () => ((await get(campaign.id)).sent >= 5 ? true : undefined));
    // The loader's first message holds the whole audience, in users.id order, as batch 1.
    const sorted = await withTestDb((db) =>
      db
        .select()
        .from(usersTable)
        .where(
          inArray(
            usersTable.telegramId,
            users.map((u) => u.id),
          ),
        )
        .orderBy(usersTable.id),
    );
    const body = encodeRecipients({
      campaign: campaign.id,
      batch: `${campaign.id}:1`,
      recipients: sorted.map((u) => [u.telegramId, u.languageCode]),
    });
    const batch = createMessageBatch('flarecast-broadcast', [{ id: 'again', timestamp: new Date(), attempts: 2, body }]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env);
    expect((await getQueueResult(batch, ctx)).explicitAcks).toEqual(['again']);
    const done = await untilStatus(campaign.id, 'completed');
    expect(done).toMatchObject({ sent: 40, unknown: 0 });
    await expectEachOnce(users);
  });

  it('reports every outcome of a message when Postgres fails at its end: the message is done, nobody left claimed', async () => {
    const tag = crypto.randomUUID().slice(0, 8);
    await seedUsers(20, tag);
    // The campaign's own audience takes 4 s, so it is still running while this message is handled.
    const campaign = await create({ audience: { language_codes: [`en-${tag}`, `ru-${tag}`] }, rate_per_second: 5 });
    await act(campaign.id, 'start');
    const [blocked, other] = [uniqueTelegramId(), uniqueTelegramId()];
    await configureTelegram({ blockedChats: [blocked] });
    const body = encodeRecipients({
      campaign: campaign.id,
      batch: `${campaign.id}:extra`,
      recipients: [
        [blocked, null],
        [other, null],
      ],
    });
    const batch = createMessageBatch('flarecast-broadcast', [{ id: 'pg-down', timestamp: new Date(), attempts: 1, body }]);
    const ctx = createExecutionContext();
    const config = getConfig(env);
    // Marking the blocked user inactive fails: Postgres refuses this sender's connection.
    const broken = { ...config, DATABASE_URL: config.DATABASE_URL.replace(/\/[^/?]*(\?|$)/, '/no_such_database$1') };
    await processRecipientsMessages({ config: broken, env }, batch);
    expect((await getQueueResult(batch, ctx)).explicitAcks).toEqual(['pg-down']);
    const statuses = await runInDurableObject(env.CAMPAIGN.get(env.CAMPAIGN.idFromName(campaign.id)), async (_o, state) => {
      const ledger = new Ledger(state.storage.sql);
      return [ledger.status(blocked)?.status, ledger.status(other)?.status];
    });
    expect(statuses).toEqual(['blocked', 'sent']);
    await untilStatus(campaign.id, 'completed');
  });

  it('sends every recipient when its first exchanges get no slot at all', async () => {
    const tag = crypto.randomUUID().slice(0, 8);
    const users = await seedUsers(6, tag);
    const campaign = await create({ audience: { language_codes: [`en-${tag}`, `ru-${tag}`] } });
    // The bot is waiting out a 429: the sender's first exchanges are granted nothing.
    await botGate(env).block(Date.now() + 1500);
    await act(campaign.id, 'start');
    const done = await untilStatus(campaign.id, 'completed');
    expect(done).toMatchObject({ sent: 6, unknown: 0, pending: 0 });
    await expectEachOnce(users);
  });

  it('carries on after its Durable Object is evicted mid-campaign', async () => {
    const tag = crypto.randomUUID().slice(0, 8);
    const users = await seedUsers(40, tag);
    const campaign = await create({ audience: { language_codes: [`en-${tag}`, `ru-${tag}`] }, rate_per_second: 20 });
    await act(campaign.id, 'start');
    await poll(async () => ((await get(campaign.id)).sent >= 10 ? true : undefined));
    await evictDurableObject(env.CAMPAIGN.get(env.CAMPAIGN.idFromName(campaign.id)));
    const done = await untilStatus(campaign.id, 'completed');
    expect(done).toMatchObject({ sent: 40, unknown: 0, pending: 0 });
    await expectEachOnce(users);
  });

  it('completes when a message of recipients dies in the dead letter queue: every recipient counted once', async () => {
    const tag = crypto.randomUUID().slice(0, 8);
    const audience = await seedUsers(6, tag);
    const lost = await seedUsers(4, `lost-${tag}`);
    const campaign = await create({ audience: { language_codes: [`en-${tag}`, `ru-${tag}`] } });
    // A message of four more recipients the loader sent, whose sender claimed the first and then died;
    // the queue gave up on it. Recorded in the ledger as the loader records every message it sends.
    const packed = encodeRecipients({ campaign: campaign.id, batch: `${campaign.id}:lost`, recipients: lost.map((u) => [u.id, u.lang]) });
    await runInDurableObject(env.CAMPAIGN.get(env.CAMPAIGN.idFromName(campaign.id)), async (_o, ctx) => {
      const ledger = new Ledger(ctx.storage.sql);
      ledger.addBatch(`${campaign.id}:lost`, packed, Date.now());
      ledger.claim((lost[0] as { id: number }).id, `${campaign.id}:lost`, Date.now());
      const state = ctx.storage.kv.get<CampaignState>('state') as CampaignState;
      // Counted as the loader counts an audience: these six and the four of the lost message.
      ctx.storage.kv.put('state', { ...state, counted: true, counters: { ...state.counters, total: 10 } });
    });
    // The object reads its state afresh, as after any restart.
    await evictDurableObject(env.CAMPAIGN.get(env.CAMPAIGN.idFromName(campaign.id)));
    await act(campaign.id, 'start');
    // The lost message holds the campaign's one sender place: nothing more goes out until it is settled.
    expect(await get(campaign.id)).toMatchObject({ status: 'running', sent: 0 });
    const batch = createMessageBatch('flarecast-broadcast-dlq', [{ id: 'dead', timestamp: new Date(), attempts: 21, body: packed }]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env);
    expect((await getQueueResult(batch, ctx)).explicitAcks).toEqual(['dead']);
    const done = await untilStatus(campaign.id, 'completed');
    // The claimed one may have been sent: unknown, never again; the other three went out once.
    expect(done).toMatchObject({ total: 10, sent: 9, unknown: 1, pending: 0 });
    await expectEachOnce([...audience, ...lost.slice(1)]);
    expect(await deliveries((lost[0] as { id: number }).id)).toEqual([]);
  });

  it('shows its live counters in the list while it runs', async () => {
    const tag = crypto.randomUUID().slice(0, 8);
    await seedUsers(40, tag);
    const campaign = await create({ audience: { language_codes: [`en-${tag}`, `ru-${tag}`] }, rate_per_second: 10 });
    await act(campaign.id, 'start');
    const listed = await poll(
      async () => {
        const page = await json<{ campaigns: CampaignJson[] }>(await callApi('/campaigns?status=running&limit=100'));
        const row = page.campaigns.find((c) => c.id === campaign.id);
        return row && row.sent > 0 ? row : undefined;
      },
      { what: 'live counters in the list', timeoutMs: 10_000 },
    );
    expect(listed).toMatchObject({ status: 'running', total: 40 });
    expect(listed.sent).toBeLessThan(40);
    await act(campaign.id, 'cancel');
  });

  it("carries the starting request's correlation id into every recipient message and its sends' logs", async () => {
    const tag = crypto.randomUUID().slice(0, 8);
    await seedUsers(10, tag);
    const campaign = await create({ audience: { language_codes: [`en-${tag}`, `ru-${tag}`] } });
    const correlationId = `start-${tag}`;
    const lines: string[] = [];
    const spy = vi.spyOn(console, 'log').mockImplementation((line: unknown) => {
      lines.push(String(line));
    });
    try {
      const started = await call(`/api/campaigns/${campaign.id}/start`, {
        method: 'POST',
        headers: { authorization: `Bearer ${env.ADMIN_API_TOKEN}`, 'x-correlation-id': correlationId },
      });
      expect(started.status).toBe(200);
      expect(await json(started)).toMatchObject({ correlation_id: correlationId });
      await untilStatus(campaign.id, 'completed');
      const done = await poll(
        async () => {
          const found = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.event === 'recipients_message_done');
          return found.some((l) => l.campaign === campaign.id) ? found.filter((l) => l.campaign === campaign.id) : undefined;
        },
        { what: 'the sender log line' },
      );
      expect(done.map((l) => l.correlation_id)).toEqual(done.map(() => correlationId));
      expect(done.reduce((n, l) => n + Number(l.recipients), 0)).toBe(10);
    } finally {
      spy.mockRestore();
    }
  });
});
