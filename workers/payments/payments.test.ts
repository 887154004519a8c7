import { env } from 'cloudflare:workers';
import { createHash, createHmac } from 'node:crypto';
import { and, eq, sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { createApp } from '../app';
import { ServiceError } from '../clients/http';
import { getConfig } from '../core/config';
import { notificationQueueTable } from '../notifications/notifications.schema';
import { taskRegistry } from '../registry';
import { PermanentTaskError, type TaskDefinition } from '../tasks/task';
import { taskRunsTable } from '../tasks/tasks.schema';
import { admin } from '../testing/admin-chat';
import { outboxDrained } from '../testing/alerts';
import { refuseNotificationsTo, uniqueTelegramId, withTestDb } from '../testing/db';
import { call, callApi, json } from '../testing/http';
import { poll } from '../testing/poll';
import { kickOverHttp, runWithStatus } from '../testing/runs';
import { taskContext } from '../testing/task-context';
import { deliveries } from '../testing/telegram';
import { auditLogsTable, type Payment, paymentsTable, webhookLogsTable } from './payments.schema';

const DAY = 86_400_000;
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

const completion = taskRegistry.get('process_payment_completion') as TaskDefinition;
/** Runs the completion's handler here, as a run would, with `config` in place of the test env's. */
const complete = (invoiceId: number, config = getConfig(env)) =>
  completion.handler(taskContext('process_payment_completion', { invoice_id: invoiceId }, { config }));

/** How long the Crypto Pay stand-in takes to answer each API call, in ms. */
const cryptoPayLatency = async (latencyMs: number) =>
  expect((await fetch(`${cryptobotControl}/config`, { method: 'POST', body: JSON.stringify({ latencyMs }) })).ok).toBe(true);

/** An invoice in US dollars, made through the Crypto Pay API as another client of the same app would. */
async function fiatInvoice(amount: string): Promise<number> {
  const res = await fetch(`${env.CRYPTOBOT_API_URL}/createInvoice`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'crypto-pay-api-token': env.CRYPTOBOT_TOKEN },
    body: JSON.stringify({ currency_type: 'fiat', fiat: 'USD', amount }),
  });
  const body = (await res.json()) as { ok: boolean; result: { invoice_id: number; asset?: string } };
  expect(body.ok).toBe(true);
  expect(body.result.asset).toBeUndefined();
  return body.result.invoice_id;
}

/** Closes a payment left pending: with a paid invoice, every later verification in this file would kick its completion again. */
const closeFixture = (id: string) =>
  withTestDb((db) => db.update(paymentsTable).set({ status: 'failed', error: 'test fixture closed' }).where(eq(paymentsTable.id, id)));

const adminAlertsAbout = async (text: string) => (await deliveries(admin)).filter((d) => d.text?.includes(text)).map((d) => d.text);

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

  it('refuses an invoice charged in another asset, or in fiat, naming what it charged, and activates nothing', async () => {
    const user = await panelUser(new Date(Date.now() + DAY));
    const p = await createPayment(user, uniqueTelegramId());
    // The row says TON while the invoice charges USDT.
    await withTestDb((db) => db.update(paymentsTable).set({ asset: 'TON' }).where(eq(paymentsTable.id, p.id)));
    await pay(p.invoice_id);
    const run = await runWithStatus(await kickOverHttp('process_payment_completion', { invoice_id: p.invoice_id }), 'succeeded');
    expect(run.result).toEqual({ invoice_id: p.invoice_id, status: 'mismatch', changed: true });
    expect(await payment(p.id)).toMatchObject({ status: 'mismatch', error: 'asset USDT ≠ TON', completedAt: null });
    expect((await audits(p.id)).map((a) => [a.action, a.details])).toEqual([
      ['payment_mismatch', { invoice_id: p.invoice_id, problem: 'asset USDT ≠ TON' }],
    ]);

    // An invoice in US dollars has no crypto asset: it never matches a payment recorded in USDT.
    const invoiceId = await fiatInvoice('4.99');
    const [fiat] = await withTestDb((db) =>
      db
        .insert(paymentsTable)
        .values({ invoiceId, remnawaveUserId: user.id, plan: 'month', days: 30, amount: '4.99', asset: 'USDT' })
        .returning(),
    );
    await pay(invoiceId);
    const fiatRun = await runWithStatus(await kickOverHttp('process_payment_completion', { invoice_id: invoiceId }), 'succeeded');
    expect(fiatRun.result).toEqual({ invoice_id: invoiceId, status: 'mismatch', changed: true });
    expect(await payment(fiat?.id as string)).toMatchObject({ status: 'mismatch', error: 'asset none ≠ USDT' });
    expect((await readPanelUser(user.id)).expireAt).toBe(user.expireAt);
    const alerts = await poll(
      async () => {
        const texts = [...(await adminAlertsAbout(`invoice ${p.invoice_id}:`)), ...(await adminAlertsAbout(`invoice ${invoiceId}:`))];
        return texts.length === 2 ? texts : undefined;
      },
      { what: 'both mismatch alerts' },
    );
    expect(alerts).toEqual([
      `🚨 Payment mismatch, nothing activated\ninvoice ${p.invoice_id}: asset USDT ≠ TON`,
      `🚨 Payment mismatch, nothing activated\ninvoice ${invoiceId}: asset none ≠ USDT`,
    ]);
  });

  it('marks the webhook of a payment refused earlier processed, so it is not retried, and activates nothing', async () => {
    const user = await panelUser(new Date(Date.now() + DAY));
    const p = await createPayment(user, uniqueTelegramId());
    // An earlier completion refused it: the invoice charged another amount.
    await withTestDb((db) =>
      db.update(paymentsTable).set({ status: 'mismatch', error: 'amount 4.99 ≠ 9.99' }).where(eq(paymentsTable.id, p.id)),
    );
    expect((await postWebhook(await pay(p.invoice_id))).status).toBe(200);
    const [kicked] = await withTestDb((db) =>
      db
        .select()
        .from(taskRunsTable)
        .where(eq(taskRunsTable.idempotencyKey, `payment:${p.invoice_id}`)),
    );
    const run = await runWithStatus(kicked?.id as string, 'succeeded');
    expect(run.result).toEqual({ invoice_id: p.invoice_id, status: 'mismatch', changed: false });
    const [log] = await withTestDb((db) =>
      db
        .select()
        .from(webhookLogsTable)
        .where(eq(webhookLogsTable.eventKey, String(p.invoice_id))),
    );
    expect(log?.processedAt).toBeInstanceOf(Date);
    expect(log?.attempts).toBe(0);
    expect(await payment(p.id)).toMatchObject({ status: 'mismatch', error: 'amount 4.99 ≠ 9.99', targetExpireAt: null });
    expect(await audits(p.id)).toEqual([]);
    expect((await readPanelUser(user.id)).expireAt).toBe(user.expireAt);
  });

  it('gives up at once on a payment whose invoice Crypto Pay does not know (made with another app token)', async () => {
    const invoiceId = 1_500_000_001;
    const [p] = await withTestDb((db) =>
      db
        .insert(paymentsTable)
        .values({ invoiceId, remnawaveUserId: 1, plan: 'month', days: 30, amount: '4.99', asset: 'USDT' })
        .returning(),
    );
    const run = await runWithStatus(await kickOverHttp('process_payment_completion', { invoice_id: invoiceId }), 'dead');
    expect(run.attempts).toBe(1);
    expect(run.error).toContain(`CryptoBot does not know invoice ${invoiceId}`);
    expect(await payment(p?.id as string)).toMatchObject({ status: 'pending', targetExpireAt: null });
    await closeFixture(p?.id as string);
  });

  it('sets the expiry fixed on the first try when a retry finds the panel user extended already, never 30 more days', async () => {
    const expireAt = new Date(Date.now() + 2 * DAY);
    const user = await panelUser(expireAt);
    const p = await createPayment(user, uniqueTelegramId());
    await pay(p.invoice_id);
    // The first try fixed the target and extended the panel user, then died before it recorded the payment.
    const target = new Date(expireAt.getTime() + 30 * DAY);
    await withTestDb((db) => db.update(paymentsTable).set({ targetExpireAt: target }).where(eq(paymentsTable.id, p.id)));
    expect(
      (await fetch(`${panelControl}/users`, { method: 'POST', body: JSON.stringify({ id: user.id, expireAt: target.toISOString() }) })).ok,
    ).toBe(true);
    const run = await runWithStatus(await kickOverHttp('process_payment_completion', { invoice_id: p.invoice_id }), 'succeeded');
    expect(run.result).toEqual({ invoice_id: p.invoice_id, status: 'completed', changed: true, expires_at: target.toISOString() });
    expect((await readPanelUser(user.id)).expireAt).toBe(target.toISOString());
    expect((await audits(p.id)).map((a) => a.details)).toEqual([
      { invoice_id: p.invoice_id, remnawave_user_id: user.id, expires_at: target.toISOString() },
    ]);
  });

  it('fails a completion for a retry, not for good, when the panel refuses our token; the retry completes it', async () => {
    const expireAt = new Date(Date.now() + DAY);
    const user = await panelUser(expireAt);
    const p = await createPayment(user, uniqueTelegramId());
    await pay(p.invoice_id);
    const error = await complete(p.invoice_id, { ...getConfig(env), REMNAWAVE_API_TOKEN: 'revoked-token' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServiceError);
    expect(error).not.toBeInstanceOf(PermanentTaskError);
    expect((error as ServiceError).message).toBe('remnawave: HTTP 401 Unauthorized');
    expect(await payment(p.id)).toMatchObject({ status: 'pending', targetExpireAt: null });
    expect((await readPanelUser(user.id)).expireAt).toBe(user.expireAt);
    // The token fixed, the next try activates as usual.
    const extended = new Date(expireAt.getTime() + 30 * DAY).toISOString();
    expect(await complete(p.invoice_id)).toEqual({ invoice_id: p.invoice_id, status: 'completed', changed: true, expires_at: extended });
    expect((await readPanelUser(user.id)).expireAt).toBe(extended);
  });

  it('extends, records and confirms once when two completions of one invoice run at once', async () => {
    const expireAt = new Date(Date.now() + 5 * DAY);
    const user = await panelUser(expireAt);
    const chat = uniqueTelegramId();
    const p = await createPayment(user, chat);
    await pay(p.invoice_id);
    // A slow Crypto Pay keeps both runs past their read of the payment before either records it.
    await cryptoPayLatency(500);
    const results = await Promise.all([complete(p.invoice_id), complete(p.invoice_id)]).finally(() => cryptoPayLatency(0));
    const extended = new Date(expireAt.getTime() + 30 * DAY).toISOString();
    const done = { invoice_id: p.invoice_id, status: 'completed', changed: true, expires_at: extended };
    expect(results).toEqual([done, done]);
    expect((await readPanelUser(user.id)).expireAt).toBe(extended);
    expect(await audits(p.id)).toHaveLength(1);
    const queued = await withTestDb((db) => db.select().from(notificationQueueTable).where(eq(notificationQueueTable.telegramId, chat)));
    expect(queued.map((n) => [n.type, n.dedupeKey])).toEqual([['payment_confirmed', `payment:${p.invoice_id}`]]);
    const told = await poll(async () => (await deliveries(chat)).at(0), { what: 'the confirmation' });
    expect(told.text).toContain('Payment received');
  });

  it('extends twice when two payments of one panel user complete at once, and when the first write failed before the second', async () => {
    const expireAt = new Date(Date.now() + 5 * DAY);
    const user = await panelUser(expireAt);
    const [a, b] = [await createPayment(user, uniqueTelegramId()), await createPayment(user, uniqueTelegramId())];
    await pay(a.invoice_id);
    await pay(b.invoice_id);
    // A slow Crypto Pay keeps both runs past their read of the panel user before either writes it.
    await cryptoPayLatency(300);
    const results = await Promise.all([complete(a.invoice_id), complete(b.invoice_id)]).finally(() => cryptoPayLatency(0));
    const ends = results.map((r) => (r as { expires_at: string }).expires_at).sort();
    const plus = (days: number) => new Date(expireAt.getTime() + days * DAY).toISOString();
    expect(ends).toEqual([plus(30), plus(60)]);
    expect((await readPanelUser(user.id)).expireAt).toBe(plus(60));

    // The first payment fixed its target, its write to the panel failed; the second completes meanwhile.
    const [c, d] = [await createPayment(user, uniqueTelegramId()), await createPayment(user, uniqueTelegramId())];
    await pay(c.invoice_id);
    await pay(d.invoice_id);
    await withTestDb((db) =>
      db
        .update(paymentsTable)
        .set({ targetExpireAt: new Date(plus(90)) })
        .where(eq(paymentsTable.id, c.id)),
    );
    expect(await complete(d.invoice_id)).toMatchObject({ status: 'completed', expires_at: plus(120) });
    // The first's retry finds the panel past its target: it writes nothing back.
    expect(await complete(c.invoice_id)).toMatchObject({ status: 'completed', expires_at: plus(90) });
    expect((await readPanelUser(user.id)).expireAt).toBe(plus(120));
  });

  it('tells the user on the next try when the confirmation failed after the payment was completed', async () => {
    const user = await panelUser(new Date(Date.now() + DAY));
    const chat = uniqueTelegramId();
    const p = await createPayment(user, chat);
    await pay(p.invoice_id);
    const accept = await refuseNotificationsTo(chat);
    await expect(complete(p.invoice_id)).rejects.toMatchObject({ cause: { message: expect.stringContaining('No space left on device') } });
    expect((await payment(p.id)).status).toBe('completed');
    await accept();
    expect(await complete(p.invoice_id)).toMatchObject({ status: 'completed', changed: false });
    const told = await poll(async () => (await deliveries(chat)).at(0), { what: 'the confirmation' });
    expect(told.text).toContain('Payment received');
    expect(await audits(p.id)).toHaveLength(1);
    // Later tries (a webhook delivered again) tell nobody twice.
    await complete(p.invoice_id);
    expect(
      await withTestDb((db) => db.select().from(notificationQueueTable).where(eq(notificationQueueTable.telegramId, chat))),
    ).toHaveLength(1);
  });

  it('alerts the admins once when two completions refuse one mismatched invoice at once', async () => {
    const user = await panelUser(new Date(Date.now() + DAY));
    const p = await createPayment(user, uniqueTelegramId());
    await withTestDb((db) => db.update(paymentsTable).set({ amount: '5.99' }).where(eq(paymentsTable.id, p.id)));
    await pay(p.invoice_id);
    await cryptoPayLatency(500);
    const results = await Promise.all([complete(p.invoice_id), complete(p.invoice_id)]).finally(() => cryptoPayLatency(0));
    const refused = { invoice_id: p.invoice_id, status: 'mismatch', changed: true };
    expect(results).toEqual([refused, refused]);
    expect(await payment(p.id)).toMatchObject({ status: 'mismatch', error: 'amount 4.99 ≠ 5.99' });
    expect((await audits(p.id)).map((a) => a.action)).toEqual(['payment_mismatch']);
    await outboxDrained();
    expect(await adminAlertsAbout(`invoice ${p.invoice_id}:`)).toEqual([
      `🚨 Payment mismatch, nothing activated\ninvoice ${p.invoice_id}: amount 4.99 ≠ 5.99`,
    ]);
    expect((await readPanelUser(user.id)).expireAt).toBe(user.expireAt);
  });

  it("stores yesterday's completed payments when no day is given, as its 00:30 cron asks", async () => {
    const yesterday = new Date(Date.now() - DAY).toISOString().slice(0, 10);
    const noon = new Date(`${yesterday}T12:00:00Z`);
    await withTestDb((db) =>
      db.insert(paymentsTable).values({
        invoiceId: 1_500_000_002,
        remnawaveUserId: 1,
        plan: 'quarter',
        days: 90,
        amount: '12.5',
        asset: 'TON',
        status: 'completed',
        createdAt: noon,
        completedAt: noon,
      }),
    );
    const run = await runWithStatus(await kickOverHttp('daily_financial_stats'), 'succeeded');
    // No other test completes a payment yesterday.
    expect(run.result).toEqual({
      day: yesterday,
      stats: { count: 1, revenue: { TON: 12.5 }, average: { TON: 12.5 }, by_plan: { quarter: 1 }, by_provider: { cryptobot: 1 } },
    });
  });

  it('answers a bad invoice request with its field, CryptoBot down or payments off with 503, and one invoice per idempotency key', async () => {
    const user = await panelUser(new Date());
    const body = { remnawave_user_id: user.id, plan: 'month', days: 30, amount: '4.99', asset: 'USDT' };
    // Each reached Postgres or Crypto Pay before and came back a 500.
    const refused = [
      [{ amount: '0' }, 'amount'],
      [{ remnawave_user_id: 3_000_000_000 }, 'remnawave_user_id'],
      [{ plan: 'mo\u0000nth' }, 'plan'],
    ] as const;
    for (const [patch, field] of refused) {
      const res = await callApi('/payments', { body: { ...body, ...patch } });
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ field });
    }
    const key = crypto.randomUUID();
    const first = await json<{ id: string; invoice_id: number }>(await callApi('/payments', { body: { ...body, idempotency_key: key } }));
    const again = await callApi('/payments', { body: { ...body, idempotency_key: key } });
    expect(again.status).toBe(201);
    expect(await json(again)).toMatchObject({ id: first.id, invoice_id: first.invoice_id });
    await closeFixture(first.id);
    // The invoice call answers 503, and so do both tries of the look-up that follows it: the breaker
    // opens (for 2 s in tests), which is why this test comes last in the file.
    await fetch(`${cryptobotControl}/config`, { method: 'POST', body: JSON.stringify({ failNext: { status: 503, count: 3 } }) });
    const down = await callApi('/payments', { body });
    expect(down.status).toBe(503);
    expect(await down.json()).toMatchObject({ error: 'provider_unavailable' });
    const headers = { authorization: `Bearer ${env.ADMIN_API_TOKEN}`, 'content-type': 'application/json' };
    const off = await createApp({ registry: taskRegistry }).request(
      '/api/payments',
      { method: 'POST', headers, body: JSON.stringify(body) },
      { ...env, CRYPTOBOT_TOKEN: '' },
    );
    expect(off.status).toBe(503);
    expect(await off.json()).toMatchObject({ error: 'payments_not_configured' });
  });
});
