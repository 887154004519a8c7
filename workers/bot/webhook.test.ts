import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import worker from '../index';
import { admin } from '../testing/admin-chat';
import { uniqueTelegramId, withTestDb } from '../testing/db';
import { call, postUpdate } from '../testing/http';
import { poll } from '../testing/poll';
import { runWithStatus } from '../testing/runs';
import { deliveries } from '../testing/telegram';
import { findUser } from '../users/users.repo';

let nextUpdateId = Math.floor(Math.random() * 1e6) * 1000;

function privateChatUser(id: number, languageCode = 'en') {
  return { id, is_bot: false, first_name: `User${id}`, last_name: 'Test', username: `user${id}`, language_code: languageCode };
}

function messageUpdate(userId: number, text: string, languageCode = 'en') {
  const from = privateChatUser(userId, languageCode);
  const entities = text.startsWith('/') ? [{ type: 'bot_command', offset: 0, length: text.split(' ')[0]?.length ?? 0 }] : undefined;
  return {
    update_id: ++nextUpdateId,
    message: {
      message_id: 1,
      date: Math.floor(Date.now() / 1000),
      chat: { id: userId, type: 'private', first_name: from.first_name },
      from,
      text,
      entities,
    },
  };
}

function membershipUpdate(userId: number, status: 'kicked' | 'member') {
  const from = privateChatUser(userId);
  const bot = { id: 123456789, is_bot: true, first_name: 'flarecast_bot', username: 'flarecast_bot' };
  return {
    update_id: ++nextUpdateId,
    my_chat_member: {
      chat: { id: userId, type: 'private', first_name: from.first_name },
      from,
      date: Math.floor(Date.now() / 1000),
      old_chat_member: { user: bot, status: status === 'kicked' ? 'member' : 'kicked' },
      new_chat_member: status === 'kicked' ? { user: bot, status: 'kicked', until_date: 0 } : { user: bot, status: 'member' },
    },
  };
}

const user = (id: number) => withTestDb((db) => findUser(db, id));

describe('POST /telegram/webhook', () => {
  it('refuses a missing or wrong secret with 401 and changes nothing', async () => {
    const id = uniqueTelegramId();
    expect((await postUpdate(messageUpdate(id, 'hi'), null)).status).toBe(401);
    expect((await postUpdate(messageUpdate(id, 'hi'), 'wrong-secret')).status).toBe(401);
    expect(await user(id)).toBeUndefined();
  });

  it('answers 400 to malformed JSON and to an update without update_id', async () => {
    expect((await postUpdate('{"update_id": 1,')).status).toBe(400);
    const res = await postUpdate({ message: {} });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ field: 'update_id' });
  });

  it('upserts the user of every update and refreshes their profile', async () => {
    const id = uniqueTelegramId();
    expect((await postUpdate(messageUpdate(id, 'hello', 'ru'))).status).toBe(200);
    expect(await user(id)).toMatchObject({
      telegramId: id,
      username: `user${id}`,
      fullName: `User${id} Test`,
      languageCode: 'ru',
      isActive: true,
    });
    const renamed = messageUpdate(id, 'again');
    renamed.message.from.username = 'renamed';
    await postUpdate(renamed);
    expect(await user(id)).toMatchObject({ username: 'renamed', languageCode: 'en' });
  });

  it('answers /start in the user language', async () => {
    const ru = uniqueTelegramId();
    const en = uniqueTelegramId();
    await postUpdate(messageUpdate(ru, '/start', 'ru'));
    await postUpdate(messageUpdate(en, '/start', 'en'));
    const [ruReply] = await deliveries(ru);
    const [enReply] = await deliveries(en);
    expect(ruReply?.text).toContain(`Привет, User${ru}!`);
    expect(enReply?.text).toContain(`Hello, User${en}!`);
  });

  it('handles a redelivered update once', async () => {
    const id = uniqueTelegramId();
    const update = messageUpdate(id, '/start');
    const first = await postUpdate(update);
    const second = await postUpdate(update);
    expect(await first.json()).toEqual({ ok: true, outcome: 'handled' });
    expect(await second.json()).toEqual({ ok: true, outcome: 'duplicate' });
    expect(await deliveries(id)).toHaveLength(1);
  });

  it('marks a user inactive when they block the bot and active again when they unblock it', async () => {
    const id = uniqueTelegramId();
    await postUpdate(messageUpdate(id, 'hi'));
    await postUpdate(membershipUpdate(id, 'kicked'));
    const blocked = await user(id);
    expect(blocked?.isActive).toBe(false);
    expect(blocked?.blockedAt).toBeInstanceOf(Date);
    await postUpdate(membershipUpdate(id, 'member'));
    expect(await user(id)).toMatchObject({ isActive: true, blockedAt: null });
  });

  it('lets an admin kick a task from the chat, and nobody else', async () => {
    const before = (await deliveries(admin)).length;
    await postUpdate(messageUpdate(admin, '/ping'));
    const reply = await poll(async () => (await deliveries(admin)).slice(before).find((d) => d.text?.startsWith('Queued ping_db')));
    const runId = /run ([0-9a-f-]{36})/.exec(reply.text ?? '')?.[1] as string;
    const run = await runWithStatus(runId, 'succeeded');
    expect((run.result as { version: string }).version).toContain('PostgreSQL');

    const stranger = uniqueTelegramId();
    await postUpdate(messageUpdate(stranger, '/ping'));
    expect(await deliveries(stranger)).toEqual([]);
  });

  it('acknowledges update kinds it does not handle', async () => {
    const res = await postUpdate({ update_id: ++nextUpdateId, some_future_update: { id: 1 } });
    expect(res.status).toBe(200);
  });

  it('loses no update while Postgres is down: answers non-2xx, then handles the redelivery', async () => {
    const id = uniqueTelegramId();
    const update = messageUpdate(id, 'during outage');
    const request = () =>
      new Request('https://flarecast.test/telegram/webhook', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': env.TELEGRAM_WEBHOOK_SECRET },
        body: JSON.stringify(update),
      });
    const ctx = createExecutionContext();
    // The same Worker with its database unreachable.
    const down = await worker.fetch(request(), { ...env, DATABASE_URL: 'postgres://flarecast:x@127.0.0.1:9/none' }, ctx);
    await waitOnExecutionContext(ctx);
    expect(down.status).toBeGreaterThanOrEqual(500);
    expect(await user(id)).toBeUndefined();

    const redelivered = await call('/telegram/webhook', request());
    expect(redelivered.status).toBe(200);
    expect(await redelivered.json()).toEqual({ ok: true, outcome: 'handled' });
    await poll(async () => (await user(id)) ?? undefined);
  });
});
