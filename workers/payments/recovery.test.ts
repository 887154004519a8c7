import { env } from 'cloudflare:workers';
import { createHash, createHmac } from 'node:crypto';
import { eq, like, sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { incidents } from '../../durable-objects/incidents/incidents.do';
import { taskRunsTable } from '../tasks/tasks.schema';
import { admin } from '../testing/admin-chat';
import { uniqueTelegramId, withTestDb } from '../testing/db';
import { call, callApi, json } from '../testing/http';
import { poll } from '../testing/poll';
import { kickOverHttp, runWithStatus } from '../testing/runs';
import { deliveries } from '../testing/telegram';
import { type Payment, paymentsTable } from './payments.schema';

const cryptobotControl = `${env.CRYPTOBOT_API_URL.replace(/\/api$/, '')}/__control`;
const panelControl = `${env.REMNAWAVE_URL}/__control`;
const DAY = 86_400_000;

const payment = async (id: string) =>
  (await withTestDb((db) => db.select().from(paymentsTable).where(eq(paymentsTable.id, id))))[0] as Payment;
const panelExpiry = async (id: number) => {
  const { users } = (await (await fetch(`${panelControl}/users`)).json()) as { users: { id: number; expireAt: string }[] };
  return users.find((u) => u.id === id)?.expireAt;
};
const sign = (body: string) => createHmac('sha256', createHash('sha256').update(env.CRYPTOBOT_TOKEN).digest()).update(body).digest('hex');

describe('a paid invoice is never lost', () => {
  it('completes a paid invoice whose completion run died, extends the panel user once, and never tells the payer it expired', async () => {
    // A payment for a panel user the panel does not have yet: its completion dies at once (permanent).
    const panelUserId = 700_000 + Math.floor(Math.random() * 100_000);
    const chat = uniqueTelegramId();
    const created = await callApi('/payments', {
      body: { remnawave_user_id: panelUserId, telegram_id: chat, plan: 'month', days: 30, amount: '4.99', asset: 'USDT' },
    });
    expect(created.status).toBe(201);
    const p = await json<{ id: string; invoice_id: number }>(created);
    const paid = await fetch(`${cryptobotControl}/pay`, { method: 'POST', body: JSON.stringify({ invoice_id: p.invoice_id }) });
    const update = JSON.stringify(((await paid.json()) as { update: unknown }).update);
    const hook = await call('/webhooks/cryptobot', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'crypto-pay-api-signature': sign(update) },
      body: update,
    });
    expect(hook.status).toBe(200);
    const [first] = await poll(
      async () => {
        const runs = await withTestDb((db) =>
          db
            .select()
            .from(taskRunsTable)
            .where(eq(taskRunsTable.idempotencyKey, `payment:${p.invoice_id}`)),
        );
        return runs[0]?.status === 'dead' ? runs : undefined;
      },
      { what: 'the completion run to die' },
    );
    expect(first?.error).toContain(`panel user ${panelUserId} does not exist`);
    // Dead completion of a paid invoice: one CRITICAL alert.
    const alert = await poll(async () => (await deliveries(admin)).find((d) => d.text?.includes('process_payment_completion')), {
      what: 'the CRITICAL alert',
    });
    expect(alert.text).toMatch(/^🚨 CRITICAL: task process_payment_completion is dead after 1 tries/);

    // The panel gets the user; the payment is past its 24 hours, unpaid as far as our table knows.
    const expireAt = new Date(Date.now() + 2 * DAY);
    expect(
      (
        await fetch(`${panelControl}/users`, {
          method: 'POST',
          body: JSON.stringify({ id: panelUserId, username: `u${panelUserId}`, expireAt: expireAt.toISOString(), status: 'ACTIVE' }),
        })
      ).ok,
    ).toBe(true);
    await withTestDb((db) =>
      db.update(paymentsTable).set({ createdAt: sql`now() - interval '25 hours'` }).where(eq(paymentsTable.id, p.id)),
    );

    // Verification asks Crypto Pay first: the invoice is paid, so the completion runs again under a fresh key.
    // (Other files' pending payments share the database, so the run's totals are not this test's.)
    await runWithStatus(await kickOverHttp('verify_pending_payments'), 'succeeded');
    await poll(async () => ((await payment(p.id)).status === 'completed' ? true : undefined), { what: 'the payment completed' });
    const retried = await withTestDb((db) =>
      db
        .select()
        .from(taskRunsTable)
        .where(like(taskRunsTable.idempotencyKey, `payment:${p.invoice_id}:after:%`)),
    );
    expect(retried.map((r) => r.idempotencyKey)).toEqual([`payment:${p.invoice_id}:after:${first?.id}`]);
    // The payment completes before the run's last steps (the confirmation, the webhook log).
    await runWithStatus(retried[0]?.id as string, 'succeeded');
    expect(await panelExpiry(panelUserId)).toBe(new Date(expireAt.getTime() + 30 * DAY).toISOString());

    // Another verification changes nothing: extended once, and the payer only ever heard "received".
    await runWithStatus(await kickOverHttp('verify_pending_payments'), 'succeeded');
    expect(await panelExpiry(panelUserId)).toBe(new Date(expireAt.getTime() + 30 * DAY).toISOString());
    const told = await poll(async () => ((await deliveries(chat)).length ? await deliveries(chat) : undefined), {
      what: 'the confirmation',
    });
    expect(told.map((d) => d.text?.includes('Payment received'))).toEqual([true]);
    expect((await payment(p.id)).status).toBe('completed');
    const [incident] = (await incidents(env).recent(20)).filter((i) => i.key.startsWith('task:process_payment_completion'));
    expect(incident).toMatchObject({ severity: 'critical', occurrences: 1, resolvedAt: null });
  });

  it('completes a payment we expired unpaid when its invoice turns out paid', async () => {
    const panelUserId = 800_000 + Math.floor(Math.random() * 100_000);
    const expireAt = new Date(Date.now() + DAY);
    await fetch(`${panelControl}/users`, {
      method: 'POST',
      body: JSON.stringify({ id: panelUserId, username: `u${panelUserId}`, expireAt: expireAt.toISOString(), status: 'ACTIVE' }),
    });
    const p = await json<{ id: string; invoice_id: number }>(
      await callApi('/payments', { body: { remnawave_user_id: panelUserId, plan: 'month', days: 30, amount: '1', asset: 'USDT' } }),
    );
    await withTestDb((db) =>
      db.update(paymentsTable).set({ status: 'failed', error: 'not paid within 24 hours' }).where(eq(paymentsTable.id, p.id)),
    );
    await fetch(`${cryptobotControl}/pay`, { method: 'POST', body: JSON.stringify({ invoice_id: p.invoice_id }) });
    await runWithStatus(await kickOverHttp('process_payment_completion', { invoice_id: p.invoice_id }), 'succeeded');
    expect(await payment(p.id)).toMatchObject({ status: 'completed', error: null });
    expect(await panelExpiry(panelUserId)).toBe(new Date(expireAt.getTime() + 30 * DAY).toISOString());
  });
});
