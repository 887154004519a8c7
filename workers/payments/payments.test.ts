import { env } from 'cloudflare:workers';
import { createHash, createHmac } from 'node:crypto';
import { and, eq, sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { uniqueTelegramId, withTestDb } from '../testing/db';
import { call, callApi, json } from '../testing/http';
import { poll } from '../testing/poll';
import { kickOverHttp, runWithStatus } from '../testing/runs';
import { deliveries } from '../testing/telegram';
import { auditLogsTable, type Payment, paymentsTable, webhookLogsTable } from './payments.schema';

const admin = Number(env.ADMIN_TELEGRAM_IDS.split(',')[0]);
const cryptobotControl = `${env.CRYPTOBOT_API_URL.replace(/\/api$/, '')}/__control`;
const panelControl = `${env.REMNAWAVE_URL}/__control`;
let nextPanelUser = 5000 + Math.floor(Math.random() * 1000) * 10;

interface PanelUser {
  id: number;
  expireAt: string;
  status: string;
}

async function panelUser(expireAt: Date): Promise<PanelUser> {
  const id = ++nextPanelUser;
  const res = await fetch(`${panelControl}/users`, {
    method: 'POST',
    body: JSON.stringify({ id, username: `user_${id}`, expireAt: expireAt.toISOString(), status: 'ACTIVE' }),
  });
  expect(res.ok).toBe(true);
  return readPanelUser(id);
}

async function readPanelUser(id: number): Promise<PanelUser> {
  const { users } = (await (await fetch(`${panelControl}/users`)).json()) as { users: PanelUser[] };
  return users.find((u) => u.id === id) as PanelUser;
}

async function createPayment(
  user: PanelUser,
  telegramId: number,
  amount = '4.99',
): Promise<{ id: string; invoice_id: number; telegram_id: number }> {
  const res = await callApi('/payments', {
    body: { remnawave_user_id: user.id, telegram_id: telegramId, plan: 'month', days: 30, amount, asset: 'USDT' },
  });
  expect(res.status).toBe(201);
  return json(res);
}

/** Marks the invoice paid at the stand-in and returns the `invoice_paid` update it would send. */
async function pay(invoiceId: number): Promise<string> {
  const res = await fetch(`${cryptobotControl}/pay`, { method: 'POST', body: JSON.stringify({ invoice_id: invoiceId }) });
  expect(res.ok).toBe(true);
  return JSON.stringify(((await res.json()) as { update: unknown }).update);
}

/** Crypto Pay's signature: HMAC-SHA256 of the raw body under the SHA-256 of the token (node:crypto, not the product's code). */
const sign = (body: string, token = env.CRYPTOBOT_TOKEN) =>
  createHmac('sha256', createHash('sha256').update(token).digest()).update(body).digest('hex');

const postWebhook = (body: string, signature = sign(body)) =>
  call('/webhooks/cryptobot', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'crypto-pay-api-signature': signature },
    body,
  });

const payment = async (id: string) =>
  (await withTestDb((db) => db.select().from(paymentsTable).where(eq(paymentsTable.id, id))))[0] as Payment;
const audits = (id: string) =>
  withTestDb((db) =>
    db
      .select()
      .from(auditLogsTable)
      .where(and(eq(auditLogsTable.entity, 'payment'), eq(auditLogsTable.entityId, id))),
  );

describe('payments', () => {
  it('refuses a forged webhook with 401 and changes nothing', async () => {
    const p = await createPayment(await panelUser(new Date(Date.now() + 86_400_000)), uniqueTelegramId());
    const body = await pay(p.invoice_id);
    expect((await postWebhook(body, sign(body, 'not-the-token'))).status).toBe(401);
    expect((await postWebhook(body, '')).status).toBe(401);
    expect((await payment(p.id)).status).toBe('pending');
    const logs = await withTestDb((db) =>
      db
        .select()
        .from(webhookLogsTable)
        .where(eq(webhookLogsTable.eventKey, String(p.invoice_id))),
    );
    expect(logs).toEqual([]);
  });

  it('activates once when the same paid invoice arrives three times, and confirms once', async () => {
    const expireAt = new Date(Date.now() + 3 * 86_400_000);
    const user = await panelUser(expireAt);
    const chat = uniqueTelegramId();
    const p = await createPayment(user, chat);
    const body = await pay(p.invoice_id);
    const answers = await Promise.all([postWebhook(body), postWebhook(body), postWebhook(body)]);
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    await poll(async () => ((await payment(p.id)).status === 'completed' ? true : undefined), {
      what: 'payment completed',
      timeoutMs: 15_000,
    });
    const extended = await readPanelUser(user.id);
    expect(new Date(extended.expireAt).getTime()).toBe(new Date(user.expireAt).getTime() + 30 * 86_400_000);
    expect(await audits(p.id)).toHaveLength(1);
    const confirmation = await poll(async () => (await deliveries(chat)).at(0), { what: 'the confirmation' });
    expect(confirmation.text).toContain('Payment received');
    // A fourth delivery later is a no-op.
    expect((await postWebhook(body)).status).toBe(200);
    expect(await audits(p.id)).toHaveLength(1);
    expect(await deliveries(chat)).toHaveLength(1);
  });

  it('alerts the admins and activates nothing when the amount does not match', async () => {
    const user = await panelUser(new Date(Date.now() + 86_400_000));
    const p = await createPayment(user, uniqueTelegramId());
    // The row says 9.99 while the invoice charged 4.99.
    await withTestDb((db) => db.update(paymentsTable).set({ amount: '9.99' }).where(eq(paymentsTable.id, p.id)));
    const before = (await deliveries(admin)).length;
    await postWebhook(await pay(p.invoice_id));
    await poll(async () => ((await payment(p.id)).status === 'mismatch' ? true : undefined), { what: 'payment mismatch' });
    expect((await payment(p.id)).error).toBe('amount 4.99 ≠ 9.99');
    const alert = await poll(async () => (await deliveries(admin)).slice(before).find((d) => d.text?.includes('Payment mismatch')));
    expect(alert.text).toContain(String(p.invoice_id));
    expect((await readPanelUser(user.id)).expireAt).toBe(user.expireAt);
  });

  it('refuses a signed update that is not one, naming the field', async () => {
    const body = JSON.stringify({ update_id: 1, update_type: 'invoice_paid', payload: { invoice_id: 'x' } });
    const res = await postWebhook(body);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ field: 'payload.invoice_id' });
  });

  it('verifies pending payments: a paid invoice is completed without its webhook, an old one fails', async () => {
    const user = await panelUser(new Date(Date.now() + 86_400_000));
    const paid = await createPayment(user, uniqueTelegramId());
    await pay(paid.invoice_id);
    const stale = await createPayment(await panelUser(new Date()), uniqueTelegramId());
    await withTestDb((db) =>
      db.update(paymentsTable).set({ createdAt: sql`now() - interval '25 hours'` }).where(eq(paymentsTable.id, stale.id)),
    );
    const run = await runWithStatus(await kickOverHttp('verify_pending_payments'), 'succeeded');
    expect(run.result).toMatchObject({ paid: expect.any(Number), expired: expect.any(Number) });
    await poll(async () => ((await payment(paid.id)).status === 'completed' ? true : undefined), { what: 'paid payment completed' });
    expect(await payment(stale.id)).toMatchObject({ status: 'failed', error: 'not paid within 24 hours' });
    const told = await poll(async () => (await deliveries(stale.telegram_id)).at(0), { what: 'the expiry message' });
    expect(told.text).toContain('expired unpaid');
  });

  it('ignores other update types, and reads payments back (404 for an unknown one)', async () => {
    const other = JSON.stringify({
      update_id: 2,
      update_type: 'something_else',
      payload: { invoice_id: 1, status: 'active', amount: '1', created_at: new Date().toISOString() },
    });
    expect(await (await postWebhook(other)).json()).toEqual({ ok: true, ignored: 'something_else' });
    const p = await createPayment(await panelUser(new Date()), uniqueTelegramId());
    expect(await json(await callApi(`/payments/${p.id}`))).toMatchObject({
      id: p.id,
      status: 'pending',
      pay_url: expect.stringContaining('http'),
    });
    expect((await callApi('/payments/00000000-0000-7000-8000-000000000000')).status).toBe(404);
    const bad = await callApi('/payments', { body: { remnawave_user_id: 1, plan: 'm', days: 30, amount: '1,5', asset: 'USDT' } });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ field: 'amount' });
  });

  it('gives up at once on an invoice nobody created, or a panel user who does not exist', async () => {
    const unknown = await kickOverHttp('process_payment_completion', { invoice_id: 987_654_321 });
    expect((await runWithStatus(unknown, 'dead')).error).toContain('no payment for invoice 987654321');
    const p = await createPayment({ id: 999_999_990, expireAt: new Date().toISOString(), status: 'ACTIVE' }, uniqueTelegramId());
    await pay(p.invoice_id);
    const run = await runWithStatus(await kickOverHttp('process_payment_completion', { invoice_id: p.invoice_id }), 'dead');
    expect(run.error).toContain('panel user 999999990 does not exist');
    expect((await payment(p.id)).status).toBe('pending');
    // Close the fixture: left pending with a paid invoice, every later verification (in any file)
    // would kick its completion again, and its death would alert the admins.
    await withTestDb((db) =>
      db.update(paymentsTable).set({ status: 'failed', error: 'test fixture closed' }).where(eq(paymentsTable.id, p.id)),
    );
  });

  it('processes a logged, unprocessed webhook again, at most three times', async () => {
    const p = await createPayment(await panelUser(new Date(Date.now() + 86_400_000)), uniqueTelegramId());
    const body = JSON.parse(await pay(p.invoice_id)) as unknown;
    // A webhook stored 10 minutes ago whose processing never happened (the kick was lost).
    await withTestDb((db) =>
      db
        .insert(webhookLogsTable)
        .values({ provider: 'cryptobot', eventKey: String(p.invoice_id), body, createdAt: sql`now() - interval '10 minutes'` }),
    );
    expect((await runWithStatus(await kickOverHttp('retry_failed_webhooks'), 'succeeded')).result).toMatchObject({
      retried: expect.any(Number),
    });
    await poll(async () => ((await payment(p.id)).status === 'completed' ? true : undefined), { what: 'payment completed by the retry' });
    // The log is marked processed as the run's last step, after the payment completes.
    const log = await poll(
      async () => {
        const [row] = await withTestDb((db) =>
          db
            .select()
            .from(webhookLogsTable)
            .where(eq(webhookLogsTable.eventKey, String(p.invoice_id))),
        );
        return row?.processedAt ? row : undefined;
      },
      { what: 'the webhook log marked processed' },
    );
    expect(log?.processedAt).toBeInstanceOf(Date);
    expect(log?.attempts).toBe(1);
  });

  it('stores a day of completed payments: revenue, average, counts by plan and provider', async () => {
    const day = '2020-02-02';
    await withTestDb((db) =>
      db.insert(paymentsTable).values([
        {
          invoiceId: 1_000_000_001,
          remnawaveUserId: 1,
          plan: 'month',
          days: 30,
          amount: '5',
          asset: 'USDT',
          status: 'completed',
          completedAt: new Date(`${day}T10:00:00Z`),
        },
        {
          invoiceId: 1_000_000_002,
          remnawaveUserId: 2,
          plan: 'year',
          days: 365,
          amount: '45',
          asset: 'USDT',
          status: 'completed',
          completedAt: new Date(`${day}T23:59:00Z`),
        },
        { invoiceId: 1_000_000_003, remnawaveUserId: 3, plan: 'month', days: 30, amount: '1', asset: 'TON', status: 'pending' },
      ]),
    );
    const run = await runWithStatus(await kickOverHttp('daily_financial_stats', { day }), 'succeeded');
    expect(run.result).toEqual({
      day,
      stats: { count: 2, revenue: { USDT: 50 }, average: { USDT: 25 }, by_plan: { month: 1, year: 1 }, by_provider: { cryptobot: 2 } },
    });
  });

  it('tries again later when the invoice is not paid yet', async () => {
    const p = await createPayment(await panelUser(new Date()), uniqueTelegramId());
    const run = await runWithStatus(await kickOverHttp('process_payment_completion', { invoice_id: p.invoice_id }), 'failed');
    expect(run.error).toContain(`invoice ${p.invoice_id} is active, not paid`);
    expect((await payment(p.id)).status).toBe('pending');
  });
});
