import { env } from 'cloudflare:workers';
import { eq, like, sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { notificationQueueTable } from '../notifications/notifications.schema';
import { taskRunsTable } from '../tasks/tasks.schema';
import { uniqueTelegramId, withTestDb } from '../testing/db';
import { callApi, json } from '../testing/http';
import { poll } from '../testing/poll';
import { kickOverHttp, runWithStatus } from '../testing/runs';
import { type Payment, paymentsTable } from './payments.schema';

// This file has a database of its own: `verify_pending_payments` checks every pending payment, so
// its counts here are exactly this file's. Each test leaves none pending.

const cryptobotControl = `${env.CRYPTOBOT_API_URL.replace(/\/api$/, '')}/__control`;
const panelControl = `${env.REMNAWAVE_URL}/__control`;

const payment = async (id: string) =>
  (await withTestDb((db) => db.select().from(paymentsTable).where(eq(paymentsTable.id, id))))[0] as Payment;

async function createPayment(telegramId?: number): Promise<{ id: string; invoice_id: number }> {
  const userId = 60_000 + Math.floor(Math.random() * 10_000);
  const seeded = await fetch(`${panelControl}/users`, {
    method: 'POST',
    body: JSON.stringify({ id: userId, username: `verify_${userId}`, expireAt: new Date().toISOString(), status: 'ACTIVE' }),
  });
  expect(seeded.ok).toBe(true);
  const res = await callApi('/payments', {
    body: { remnawave_user_id: userId, telegram_id: telegramId, plan: 'month', days: 30, amount: '4.99', asset: 'USDT' },
  });
  expect(res.status).toBe(201);
  return json(res);
}

/** How long the Crypto Pay stand-in takes to answer each API call, in ms. */
const cryptoPayLatency = async (latencyMs: number) =>
  expect((await fetch(`${cryptobotControl}/config`, { method: 'POST', body: JSON.stringify({ latencyMs }) })).ok).toBe(true);

const closeFixture = (id: string) =>
  withTestDb((db) => db.update(paymentsTable).set({ status: 'failed', error: 'test fixture closed' }).where(eq(paymentsTable.id, id)));

const verify = async () => (await runWithStatus(await kickOverHttp('verify_pending_payments'), 'succeeded')).result;

describe('verify_pending_payments', () => {
  it('expires an old payment Crypto Pay does not know without telling anyone when it has no chat, and leaves a young unpaid one pending', async () => {
    // Its invoice is not at Crypto Pay (made with another app token), and nobody is to be told.
    const [old] = await withTestDb((db) =>
      db
        .insert(paymentsTable)
        .values({
          invoiceId: 2_000_000_001,
          remnawaveUserId: 1,
          plan: 'month',
          days: 30,
          amount: '4.99',
          asset: 'USDT',
          createdAt: sql`now() - interval '25 hours'`,
        })
        .returning(),
    );
    const young = await createPayment(uniqueTelegramId());
    expect(await verify()).toEqual({ checked: 2, paid: 0, expired: 1 });
    expect(await payment(old?.id as string)).toMatchObject({ status: 'failed', error: 'not paid within 24 hours' });
    expect(await payment(young.id)).toMatchObject({ status: 'pending', error: null });
    expect(await withTestDb((db) => db.select().from(notificationQueueTable))).toEqual([]);
    await closeFixture(young.id);
  });

  it('stops kicking the completion of a paid invoice after 20 dead runs, and leaves the payment pending', async () => {
    const p = await createPayment();
    const paid = await fetch(`${cryptobotControl}/pay`, { method: 'POST', body: JSON.stringify({ invoice_id: p.invoice_id }) });
    expect(paid.ok).toBe(true);
    // 20 completions died one after another, each kicked under the key naming the one before.
    let key = `payment:${p.invoice_id}`;
    const keys: string[] = [];
    for (let i = 0; i < 20; i++) {
      const id = crypto.randomUUID();
      await withTestDb((db) =>
        db.insert(taskRunsTable).values({
          id,
          name: 'process_payment_completion',
          args: { invoice_id: p.invoice_id },
          status: 'dead',
          attempts: 4,
          maxAttempts: 4,
          idempotencyKey: key,
          correlationId: 'test',
          error: 'remnawave: HTTP 503 Service Unavailable',
          finishedAt: sql`now()`,
          expiresAt: sql`now() + interval '1 day'`,
        }),
      );
      keys.push(key);
      key = `payment:${p.invoice_id}:after:${id}`;
    }
    expect(await verify()).toEqual({ checked: 1, paid: 1, expired: 0 });
    const runs = await withTestDb((db) =>
      db
        .select({ key: taskRunsTable.idempotencyKey, status: taskRunsTable.status })
        .from(taskRunsTable)
        .where(like(taskRunsTable.idempotencyKey, `payment:${p.invoice_id}%`)),
    );
    expect(runs.map((r) => r.key).sort()).toEqual([...keys].sort());
    expect(runs.every((r) => r.status === 'dead')).toBe(true);
    expect(await payment(p.id)).toMatchObject({ status: 'pending', completedAt: null });
    await closeFixture(p.id);
  });

  it('does not expire, nor tell the payer about, a payment completed while it was asking Crypto Pay', async () => {
    const chat = uniqueTelegramId();
    const p = await createPayment(chat);
    await withTestDb((db) =>
      db.update(paymentsTable).set({ createdAt: sql`now() - interval '25 hours'` }).where(eq(paymentsTable.id, p.id)),
    );
    const calls = async () =>
      ((await (await fetch(`${cryptobotControl}/calls?method=getInvoices`)).json()) as { calls: { seq: number }[] }).calls;
    const seen = (await calls()).at(-1)?.seq ?? 0;
    // Crypto Pay answers 1.5 s after it decided: the invoice is still active.
    await cryptoPayLatency(1500);
    try {
      const run = await kickOverHttp('verify_pending_payments');
      await poll(async () => ((await calls()).some((c) => c.seq > seen) ? true : undefined), {
        what: 'the verification to ask Crypto Pay',
      });
      // Meanwhile the completion (its webhook) finishes the payment.
      await withTestDb((db) =>
        db.update(paymentsTable).set({ status: 'completed', completedAt: sql`now()` }).where(eq(paymentsTable.id, p.id)),
      );
      expect((await runWithStatus(run, 'succeeded')).result).toEqual({ checked: 1, paid: 0, expired: 0 });
    } finally {
      await cryptoPayLatency(0);
    }
    expect(await payment(p.id)).toMatchObject({ status: 'completed', error: null });
    expect(await withTestDb((db) => db.select().from(notificationQueueTable).where(eq(notificationQueueTable.telegramId, chat)))).toEqual(
      [],
    );
  });
});
