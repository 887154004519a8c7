import { env } from 'cloudflare:workers';
import { and, eq, gte, inArray, sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { incidents } from '../../durable-objects/incidents/incidents.do';
import { createApp } from '../app';
import { getConfig } from '../core/config';
import { createLogger } from '../core/logger';
import { taskRegistry } from '../registry';
import { kicker } from '../tasks/kick';
import { taskRunsTable } from '../tasks/tasks.schema';
import { Outbound } from '../telegram/outbound';
import { outboxDrained } from '../testing/alerts';
import { uniqueTelegramId, withTestDb } from '../testing/db';
import { callApi, json } from '../testing/http';
import { poll } from '../testing/poll';
import { kickOverHttp, runWithStatus, storedRun } from '../testing/runs';
import { taskContext } from '../testing/task-context';
import { configureTelegram, deliveries } from '../testing/telegram';
import { findUser } from '../users/users.repo';
import { usersTable } from '../users/users.schema';
import { insertNotifications, settleAndClaim } from './notifications.repo';
import { type Notification, notificationBatchesTable, notificationQueueTable } from './notifications.schema';
import { processNotificationsTask, sendNotificationTask } from './notifications.tasks';

const rows = (ids: string[]) => withTestDb((db) => db.select().from(notificationQueueTable).where(inArray(notificationQueueTable.id, ids)));
const row = async (id: string) => (await rows([id]))[0] as Notification;
/** Makes a notification due now, as if its backoff had passed. */
const dueNow = (id: string) =>
  withTestDb((db) => db.update(notificationQueueTable).set({ scheduledAt: sql`now()` }).where(eq(notificationQueueTable.id, id)));
/** One `process_notifications` run, to its end. */
const processOnce = async () =>
  (await runWithStatus(await kickOverHttp('process_notifications'), 'succeeded')).result as Record<string, number>;

describe('notification queue', () => {
  it('sends each inserted notification within seconds, once', async () => {
    const chats = Array.from({ length: 10 }, () => uniqueTelegramId());
    const queued = await Promise.all(
      chats.map(async (chat) =>
        json<{ id: string; status: string }>(
          await callApi('/notifications', { body: { telegram_id: chat, text: `<b>Hi</b> ${chat}`, type: 'test' } }),
        ),
      ),
    );
    expect(queued.every((q) => q.status === 'pending')).toBe(true);
    const ids = queued.map((q) => q.id);
    const sent = await poll(
      async () => {
        const all = await rows(ids);
        return all.every((n) => n.status === 'sent') ? all : undefined;
      },
      { what: '10 notifications sent' },
    );
    expect(sent.every((n) => n.sentAt instanceof Date && n.messageId !== null && n.attempts === 1)).toBe(true);
    for (const chat of chats) expect((await deliveries(chat)).map((d) => d.text)).toEqual([`Hi ${chat}`]);
    // Nothing is left due: a run finds nothing to do.
    expect(await processOnce()).toMatchObject({ claimed: 0 });
  });

  it('sends a notification once when Postgres fails the first settle of its batch', async () => {
    const chat = uniqueTelegramId();
    // The settle (the update that clears the claim) of this chat's row fails once: a sequence is not
    // rolled back with the statement it fails.
    await withTestDb(async (db) => {
      await db.execute(sql`create sequence if not exists test_settle_failures`);
      await db.execute(sql`create or replace function test_fail_settle() returns trigger language plpgsql as $$
        begin
          if new.telegram_id = ${sql.raw(String(chat))} and old.claimed_until is not null and new.claimed_until is null
             and nextval('test_settle_failures') = 1 then
            raise exception 'terminating connection due to administrator command';
          end if;
          return new;
        end $$`);
      await db.execute(
        sql`create trigger test_fail_settle before update on notification_queue for each row execute function test_fail_settle()`,
      );
    });
    try {
      const { id } = await json<{ id: string }>(
        await callApi('/notifications', { body: { telegram_id: chat, text: 'once', type: 'test' } }),
      );
      await poll(async () => ((await row(id)).status === 'sent' ? true : undefined), { what: 'the notification settled as sent' });
      expect((await deliveries(chat)).map((d) => d.text)).toEqual(['once']);
    } finally {
      await withTestDb((db) => db.execute(sql`drop trigger test_fail_settle on notification_queue`));
    }
  });

  it('answers 202 for a stored notification when the task queue refuses its kick (the sweep sends it): a retry would queue it twice', async () => {
    const chat = uniqueTelegramId();
    const refusing = { sendBatch: () => Promise.reject(new Error('queue unavailable')) } as unknown as Queue;
    const headers = { authorization: `Bearer ${env.ADMIN_API_TOKEN}`, 'content-type': 'application/json' };
    const res = await createApp({ registry: taskRegistry }).request(
      '/api/notifications',
      { method: 'POST', headers, body: JSON.stringify({ telegram_id: chat, text: 'stored', type: 'test' }) },
      { ...env, TASKS_QUEUE: refusing },
    );
    expect(res.status).toBe(202);
    const { id } = await json<{ id: string }>(res);
    expect((await row(id)).status).toBe('pending');
    // The minute's sweep.
    await processOnce();
    expect((await deliveries(chat)).map((d) => d.text)).toEqual(['stored']);
  });

  it('kicks one run for a burst of inserts, not one each', async () => {
    const since = new Date();
    const chats = Array.from({ length: 20 }, () => uniqueTelegramId());
    const queued = await Promise.all(
      chats.map(async (chat) =>
        json<{ id: string }>(await callApi('/notifications', { body: { telegram_id: chat, text: 'burst', type: 'test' } })),
      ),
    );
    await poll(async () => ((await rows(queued.map((q) => q.id))).every((n) => n.status === 'sent') ? true : undefined), {
      what: 'the burst sent',
    });
    const runs = await withTestDb((db) =>
      db
        .select()
        .from(taskRunsTable)
        .where(and(eq(taskRunsTable.name, 'process_notifications'), gte(taskRunsTable.createdAt, since))),
    );
    // Each run clears the flag when it starts claiming; inserts after that kick the next one.
    expect(runs.length).toBeGreaterThanOrEqual(1);
    expect(runs.length).toBeLessThanOrEqual(4);
  });

  it('queues a dedupe key once and refuses a bad body naming the field', async () => {
    const chat = uniqueTelegramId();
    const body = { telegram_id: chat, text: 'once', dedupe_key: `test:${chat}` };
    const first = await json<{ id: string }>(await callApi('/notifications', { body }));
    const second = await json<{ id: string }>(await callApi('/notifications', { body }));
    expect(second.id).toBe(first.id);
    await poll(async () => ((await row(first.id)).status === 'sent' ? true : undefined));
    expect(await deliveries(chat)).toHaveLength(1);
    expect(await json(await callApi(`/notifications/${first.id}`))).toMatchObject({ id: first.id, status: 'sent', attempts: 1 });
    expect((await callApi('/notifications/00000000-0000-7000-8000-000000000000')).status).toBe(404);
    const bad = await callApi('/notifications', { body: { telegram_id: 'x', text: 'y' } });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ field: 'telegram_id' });
    // Year 0 is ISO 8601 but no Postgres time; a NUL no Postgres text (each was a 500).
    for (const [patch, field] of [
      [{ scheduled_at: '0000-01-01T00:00:00Z' }, 'scheduled_at'],
      [{ text: 'a\u0000b' }, 'text'],
    ] as const) {
      const refused = await callApi('/notifications', { body: { telegram_id: chat, text: 'y', ...patch } });
      expect(refused.status).toBe(400);
      expect(await refused.json()).toMatchObject({ field });
    }
  });

  it('counts a send that may have reached Telegram as unknown and never sends it again', async () => {
    const chat = uniqueTelegramId();
    const {
      ids: [id],
    } = await withTestDb((db) => insertNotifications(db, [{ telegramId: chat, type: 'reminder', text: 'maybe' }]));
    // Telegram delivers it, then a proxy in front of it answers 502 (once no admin alert is on its way).
    await outboxDrained();
    await configureTelegram({ failNext: { status: 502, count: 1, delivered: true } });
    await dueNow(id as string);
    expect(await processOnce()).toMatchObject({ claimed: 1, sent: 0, unknown: 1 });
    expect(await row(id as string)).toMatchObject({ status: 'unknown', attempts: 1, errorMessage: 'Bad Gateway' });
    await dueNow(id as string);
    await processOnce();
    expect(await row(id as string)).toMatchObject({ status: 'unknown', attempts: 1 });
    expect((await deliveries(chat)).map((d) => d.text)).toEqual(['maybe']);
  });

  it('backs off 30 s, 1 m, 5 m, 15 m, 1 h while Telegram is unreachable, and after the fifth retry marks it failed', async () => {
    const chat = uniqueTelegramId();
    const {
      ids: [id],
    } = await withTestDb((db) => insertNotifications(db, [{ telegramId: chat, type: 'reminder', text: 'try me' }]));
    const waits: number[] = [];
    try {
      for (let attempt = 1; attempt <= 6; attempt++) {
        await telegramUnreachable();
        await dueNow(id as string);
        const result = await processNotificationsTask.handler(taskContext('process_notifications', {}));
        expect(result).toMatchObject({ claimed: 1, sent: 0, unknown: 0 });
        const n = await row(id as string);
        expect(n).toMatchObject({
          attempts: attempt,
          status: attempt < 6 ? 'pending' : 'failed',
          errorMessage: 'Telegram looked unreachable',
        });
        if (attempt < 6) waits.push(Math.round((n.scheduledAt.getTime() - Date.now()) / 10_000) * 10);
      }
    } finally {
      await telegramReachable();
    }
    // Every step of the seed's table is reached (seconds, rounded to 10).
    expect(waits).toEqual([30, 60, 300, 900, 3600]);
    // A failed notification is not taken again.
    await dueNow(id as string);
    await processOnce();
    expect(await row(id as string)).toMatchObject({ attempts: 6, status: 'failed' });
    expect(await deliveries(chat)).toEqual([]);
  });

  it('waits out a 429 without counting the try, then sends', async () => {
    const chat = uniqueTelegramId();
    const {
      ids: [id],
    } = await withTestDb((db) => insertNotifications(db, [{ telegramId: chat, type: 'test', text: 'after the flood' }]));
    // An admin alert still on its way (the test above ends with one) would take the 429 meant for this send.
    await outboxDrained();
    await configureTelegram({ failNext: { status: 429, count: 1, retryAfter: 1 } });
    await processOnce();
    const waiting = await row(id as string);
    expect(waiting).toMatchObject({ status: 'pending', attempts: 0, errorMessage: expect.stringContaining('Too Many Requests') });
    await poll(async () => (Date.now() >= waiting.scheduledAt.getTime() ? true : undefined), { what: 'the retry time' });
    await processOnce();
    expect(await row(id as string)).toMatchObject({ status: 'sent', attempts: 1 });
  });

  it('fails a notification to a user who blocked the bot at once and marks them inactive', async () => {
    const chat = uniqueTelegramId();
    await withTestDb((db) => db.insert(usersTable).values({ telegramId: chat, fullName: 'Gone' }));
    await configureTelegram({ blockedChats: [chat] });
    const {
      ids: [id],
    } = await withTestDb((db) => insertNotifications(db, [{ telegramId: chat, type: 'test', text: 'hello?' }]));
    await processOnce();
    expect(await row(id as string)).toMatchObject({
      status: 'failed',
      attempts: 1,
      errorMessage: 'Forbidden: bot was blocked by the user',
    });
    expect((await withTestDb((db) => findUser(db, chat)))?.isActive).toBe(false);
  });
});

describe('send_notification', () => {
  it('sends at once and returns the message id', async () => {
    const chat = uniqueTelegramId();
    const run = await runWithStatus(
      await kickOverHttp('send_notification', { telegram_id: chat, message: '<i>now</i>', type: 'test' }),
      'succeeded',
    );
    expect(run.result).toMatchObject({ message_id: expect.any(Number), sent_at: expect.any(String) });
    expect((await deliveries(chat)).map((d) => d.text)).toEqual(['now']);
  });

  it('stops at once for a user who blocked the bot, and marks them inactive', async () => {
    const chat = uniqueTelegramId();
    await withTestDb((db) => db.insert(usersTable).values({ telegramId: chat, fullName: 'Gone too' }));
    await configureTelegram({ blockedChats: [chat] });
    const run = await runWithStatus(await kickOverHttp('send_notification', { telegram_id: chat, message: 'hi' }), 'dead');
    expect(run).toMatchObject({ attempts: 1, error: 'Forbidden: bot was blocked by the user' });
    // A refusal is the user's choice, not an incident: its policy only logs it (no admin alert).
    expect(taskRegistry.get('send_notification')?.onExhausted).toBe('warn');
    expect((await incidents(env).recent(50)).filter((i) => i.key.includes('send_notification'))).toEqual([]);
    expect((await withTestDb((db) => findUser(db, chat)))?.isActive).toBe(false);
  });

  it('hands the message to the queue when its last try could not reach Telegram', async () => {
    const chat = uniqueTelegramId();
    const config = getConfig(env);
    const runId = crypto.randomUUID();
    await telegramUnreachable();
    try {
      const result = await withTestDb((db) =>
        sendNotificationTask.handler({
          ...taskContext('send_notification', { telegram_id: chat, message: 'later', type: 'test', parse_mode: 'HTML' as const }),
          run: { id: runId, name: 'send_notification', attempt: 3, maxAttempts: 3, correlationId: 'test' },
          db,
          kick: kicker({ db, queue: env.TASKS_QUEUE, registry: taskRegistry, config, log: createLogger('test') }),
        }),
      );
      expect(result).toMatchObject({ deferred: true, notification_id: expect.any(String) });
      const id = (result as { notification_id: string }).notification_id;
      expect(await row(id)).toMatchObject({ dedupeKey: `send_notification:${runId}` });
      // The run the deferral kicked tries it at once: within the 5 s this isolate holds sends off
      // after three failures, so it holds it back too and schedules its retry (30 s) — unless the run
      // came after those 5 s and its probe went through.
      const tried = await poll(
        async () => {
          const r = await row(id);
          return r.attempts > 0 && r.claimedUntil === null ? r : undefined;
        },
        { what: 'the kicked run to try the queued notification' },
      );
      if (tried.status === 'pending') {
        expect(tried.scheduledAt.getTime()).toBeGreaterThan(Date.now() + 20_000);
        expect(await deliveries(chat)).toEqual([]);
        await telegramReachable();
        // Its retry brought forward from 30 s to now, and the run cron would start then.
        await withTestDb((db) =>
          db.update(notificationQueueTable).set({ scheduledAt: new Date() }).where(eq(notificationQueueTable.id, id)),
        );
        await kickOverHttp('process_notifications', {});
      }
      await poll(async () => ((await row(id)).status === 'sent' ? true : undefined), { what: 'the queued notification sent' });
      expect((await deliveries(chat)).map((d) => d.text)).toEqual(['later']);
    } finally {
      await telegramReachable();
    }
  });

  it('does not try again what may have been delivered', async () => {
    const chat = uniqueTelegramId();
    await configureTelegram({ failNext: { status: 500, count: 1, delivered: true } });
    const result = await sendNotificationTask.handler(
      taskContext('send_notification', { telegram_id: chat, message: 'once', type: 'test', parse_mode: 'HTML' as const }),
    );
    expect(result).toEqual({ outcome: 'unknown', reason: 'Internal Server Error' });
    expect((await deliveries(chat)).map((d) => d.text)).toEqual(['once']);
  });
});

/**
 * Makes this isolate take Telegram for unreachable: three sends in a row answered without a Bot API
 * answer (502 from a proxy) hold every further send off for a while.
 */
async function telegramUnreachable(): Promise<void> {
  await telegramReachable();
  await configureTelegram({ failNext: { status: 502, count: 3 } });
  const outbound = new Outbound(getConfig(env), env);
  for (let i = 0; i < 3; i++)
    expect((await outbound.send('sendMessage', { chat_id: uniqueTelegramId(), text: 'probe' })).kind).toBe('unknown');
}

/** Any answer of Telegram lets sends through again. */
async function telegramReachable(): Promise<void> {
  expect((await new Outbound(getConfig(env), env).call('getMe')).kind).toBe('ok');
}

describe('bulk_notify', () => {
  it('queues a list once (duplicates dropped), sends it at the gate pace and reports the counts', async () => {
    const chats = Array.from({ length: 20 }, () => uniqueTelegramId());
    const blocked = chats[3] as number;
    await configureTelegram({ blockedChats: [blocked] });
    const runId = await kickOverHttp('bulk_notify', { telegram_ids: [...chats, ...chats.slice(0, 5)], message: 'to many', type: 'promo' });
    const run = await runWithStatus(runId, 'succeeded');
    expect(run.result).toEqual({ queued: 20 });
    const progress = await poll(
      async () => {
        const p = (await storedRun(runId))?.progress as { done: number } | null;
        return p?.done === 20 ? p : undefined;
      },
      { what: 'the bulk send to finish', timeoutMs: 20_000 },
    );
    expect(progress).toMatchObject({
      done: 20,
      total: 20,
      sent: 19,
      failed: 1,
      errors: [{ error: 'Forbidden: bot was blocked by the user', count: 1 }],
      duration_seconds: expect.any(Number),
    });
    // The text is stored once, on the batch, whose counters moved with every settle.
    const stored = await withTestDb(async (db) => ({
      rows: await db
        .select({ text: notificationQueueTable.text })
        .from(notificationQueueTable)
        .where(eq(notificationQueueTable.batchId, runId)),
      batch: await db.select().from(notificationBatchesTable).where(eq(notificationBatchesTable.id, runId)),
    }));
    expect(stored.rows).toHaveLength(20);
    expect(stored.rows.every((r) => r.text === null)).toBe(true);
    expect(stored.batch).toMatchObject([{ text: 'to many', type: 'promo', total: 20, sent: 19, failed: 1, unknown: 0 }]);
    expect((await deliveries(chats[0])).map((d) => d.text)).toEqual(['to many']);
    // From the kick to the last settled send: within the poll's bound.
    const { duration_seconds } = progress as unknown as { duration_seconds: number };
    expect(duration_seconds).toBeGreaterThanOrEqual(0);
    expect(duration_seconds).toBeLessThan(20);
    for (const chat of chats) expect(await deliveries(chat)).toHaveLength(chat === blocked ? 0 : 1);
    // The run's result is kept its time past the last send, not past the run (which ended before the sends).
    const last = await withTestDb(async (db) =>
      Math.max(
        ...(
          await db
            .select({ at: notificationQueueTable.sentAt })
            .from(notificationQueueTable)
            .where(eq(notificationQueueTable.batchId, runId))
        ).map((r) => r.at?.getTime() ?? 0),
      ),
    );
    const kept = (await storedRun(runId)) as { expiresAt: Date; finishedAt: Date };
    const ttl = getConfig(env).RESULT_TTL_SECONDS * 1000;
    expect(last).toBeGreaterThan(kept.finishedAt.getTime());
    expect(kept.expiresAt.getTime()).toBeGreaterThanOrEqual(last + ttl);
  });

  it('says a bulk send is done only together with its errors (one statement), failures settled before and last alike', async () => {
    const runId = crypto.randomUUID();
    const later = new Date(Date.now() + 3_600_000);
    const rows = Array.from({ length: 3 }, () => ({ id: crypto.randomUUID(), telegramId: uniqueTelegramId() }));
    await withTestDb(async (db) => {
      await db
        .insert(taskRunsTable)
        .values({ id: runId, name: 'bulk_notify', args: {}, maxAttempts: 1, correlationId: 'test', expiresAt: later });
      await db.insert(notificationBatchesTable).values({ id: runId, type: 'promo', text: 'to many', total: 3 });
      // Due in an hour: no processor of another test claims them meanwhile.
      await db.insert(notificationQueueTable).values(rows.map((r) => ({ ...r, type: 'promo', batchId: runId, scheduledAt: later })));
      const [first, second, third] = rows as [(typeof rows)[0], (typeof rows)[0], (typeof rows)[0]];
      await settleAndClaim(db, [{ id: first.id, status: 'failed', error: 'Bad Request: chat not found' }], 0);
      const midway = (await storedRun(runId))?.progress;
      expect(midway).toMatchObject({ done: 1, total: 3, failed: 1 });
      expect(midway).not.toHaveProperty('errors');
      await settleAndClaim(
        db,
        [
          { id: second.id, status: 'sent', messageId: 1 },
          { id: third.id, status: 'failed', error: 'Forbidden: bot was blocked by the user' },
        ],
        0,
      );
    });
    expect((await storedRun(runId))?.progress).toMatchObject({
      done: 3,
      sent: 1,
      failed: 2,
      errors: [
        { error: 'Bad Request: chat not found', count: 1 },
        { error: 'Forbidden: bot was blocked by the user', count: 1 },
      ],
    });
  });

  it('refuses an empty list, naming the field', async () => {
    const res = await callApi('/tasks', { body: { name: 'bulk_notify', args: { telegram_ids: [], message: 'x' } } });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ field: expect.stringContaining('args.telegram_ids') });
  });
});
