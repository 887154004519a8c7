import { env } from 'cloudflare:workers';
import { and, eq, inArray } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { auditLogsTable } from '../payments/payments.schema';
import { refuseNotificationsTo, uniqueTelegramId, withTestDb } from '../testing/db';
import { panelObject, panelSignature, postPanelEvent } from '../testing/panel';
import { poll } from '../testing/poll';
import { kickOverHttp, runWithStatus } from '../testing/runs';
import { deliveries } from '../testing/telegram';
import { usersTable } from '../users/users.schema';
import { autoRenewalsTable } from './subscriptions.schema';
import { bracketFor, wasTold } from './subscriptions.service';

const panel = env.REMNAWAVE_URL;
const HOUR = 3_600_000;
let nextId = 20_000 + Math.floor(Math.random() * 1000) * 20;

interface Seeded {
  id: number;
  telegramId: number | null;
}

async function seed(expiresIn: number, opts: { status?: string; telegram?: boolean; lang?: string } = {}): Promise<Seeded> {
  const id = ++nextId;
  const telegramId = opts.telegram === false ? null : uniqueTelegramId();
  const res = await fetch(`${panel}/__control/users`, {
    method: 'POST',
    body: JSON.stringify({
      id,
      username: `sub_${id}`,
      status: opts.status ?? 'ACTIVE',
      expireAt: new Date(Date.now() + expiresIn).toISOString(),
      telegramId,
    }),
  });
  expect(res.ok).toBe(true);
  if (telegramId !== null && opts.lang)
    await withTestDb((db) => db.insert(usersTable).values({ telegramId, fullName: `Sub ${id}`, languageCode: opts.lang }));
  return { id, telegramId };
}

const configurePanel = (patch: Record<string, unknown>) =>
  fetch(`${panel}/__control/config`, { method: 'POST', body: JSON.stringify(patch) });
const panelUser = async (id: number) =>
  ((await (await fetch(`${panel}/__control/users`)).json()) as { users: { id: number; status: string }[] }).users.find((u) => u.id === id);
const sentTo = async (u: Seeded) => (u.telegramId === null ? [] : await deliveries(u.telegramId));
const run = async (task: string) => (await runWithStatus(await kickOverHttp(task), 'succeeded', 20_000)).result as Record<string, number>;

describe('subscription lifecycle', () => {
  it('puts the time left into the nearest bracket', () => {
    expect(bracketFor(5 * HOUR)).toBe('6h');
    expect(bracketFor(23 * HOUR)).toBe('24h');
    expect(bracketFor(60 * HOUR)).toBe('3d');
    expect(bracketFor(7 * 24 * HOUR)).toBe('7d');
    expect(bracketFor(8 * 24 * HOUR)).toBeUndefined();
    expect(bracketFor(-1)).toBeUndefined();
  });

  it('reminds each user once per bracket, in their language, and skips who cannot be told', async () => {
    const soon = await seed(23 * HOUR, { lang: 'ru' });
    const sooner = await seed(5 * HOUR);
    const far = await seed(10 * 24 * HOUR);
    const noTelegram = await seed(30 * HOUR, { telegram: false });
    const disabled = await seed(2 * HOUR, { status: 'DISABLED' });
    await run('subscription_reminders');
    const ruText = await poll(async () => (await sentTo(soon)).at(0)?.text, { what: 'the 24 h reminder' });
    expect(ruText).toContain('24 часа');
    const enText = await poll(async () => (await sentTo(sooner)).at(0)?.text, { what: 'the 6 h reminder' });
    expect(enText).toContain('6 hours');
    // Run again: nothing is repeated.
    await run('subscription_reminders');
    await run('process_notifications');
    expect(await sentTo(soon)).toHaveLength(1);
    expect(await sentTo(sooner)).toHaveLength(1);
    expect(await sentTo(far)).toEqual([]);
    expect(await sentTo(disabled)).toEqual([]);
    expect(noTelegram.telegramId).toBeNull();
  });

  it('skips a user deleted from the panel between the listing and the disable, and disables the rest', async () => {
    await configurePanel({ expiryLagMs: 60_000 });
    try {
      const gone = await seed(-5_000, { telegram: false });
      const kept = await seed(-4_000, { telegram: false });
      // Another admin deletes `gone` right after the job lists the users: its disable gets the panel's 404.
      await configurePanel({ deleteAfterListing: [gone.id] });
      const result = await run('disable_expired_users');
      expect(result.skipped).toBe(1);
      expect(await panelUser(gone.id)).toBeUndefined();
      expect((await panelUser(kept.id))?.status).toBe('DISABLED');
      const audited = await withTestDb((db) =>
        db
          .select({ id: auditLogsTable.entityId })
          .from(auditLogsTable)
          .where(and(eq(auditLogsTable.entity, 'panel_user'), inArray(auditLogsTable.entityId, [String(gone.id), String(kept.id)]))),
      );
      expect(audited).toEqual([{ id: String(kept.id) }]);
    } finally {
      await configurePanel({ expiryLagMs: 0, deleteAfterListing: [] });
    }
  });

  it('disables users still active past their expiry, tells them once, and writes an audit row', async () => {
    await configurePanel({ expiryLagMs: 60_000 });
    try {
      const late = await seed(-5_000);
      const alreadyExpired = await seed(-3 * HOUR);
      // Ended 8 days ago: past the 7 days announced (its reminder record may already be pruned).
      const longGone = await seed(-8 * 24 * HOUR, { status: 'EXPIRED' });
      const first = await run('disable_expired_users');
      expect(first.disabled).toBeGreaterThanOrEqual(1);
      expect((await panelUser(late.id))?.status).toBe('DISABLED');
      const audit = await withTestDb((db) =>
        db
          .select()
          .from(auditLogsTable)
          .where(and(eq(auditLogsTable.entity, 'panel_user'), eq(auditLogsTable.entityId, String(late.id)))),
      );
      expect(audit).toMatchObject([{ action: 'subscription_disabled' }]);
      for (const u of [late, alreadyExpired]) await poll(async () => (await sentTo(u)).at(0), { what: 'the expiry message' });
      await run('disable_expired_users');
      await run('process_notifications');
      expect(await sentTo(late)).toHaveLength(1);
      expect((await sentTo(alreadyExpired)).map((d) => d.text)).toEqual([expect.stringContaining('subscription has ended')]);
      expect(await sentTo(longGone)).toEqual([]);
      expect(await withTestDb((db) => wasTold(db, longGone.id, 'expired'))).toBe(false);
    } finally {
      await configurePanel({ expiryLagMs: 0 });
    }
  });

  it('resets the traffic of every active user through the bulk route', async () => {
    await seed(24 * HOUR);
    const result = await run('reset_monthly_traffic');
    expect(result.reset).toBeGreaterThan(0);
    expect(result.calls).toBe(Math.ceil((result.reset as number) / 500));
    const calls = (await (await fetch(`${panel}/__control/calls?path=/api/users/bulk/reset-traffic`)).json()) as {
      calls: { status: number }[];
    };
    expect(calls.calls.at(-1)?.status).toBe(202);
  });

  it('tells every reset user once a month, in their language', async () => {
    const ru = await seed(10 * 24 * HOUR, { lang: 'ru' });
    const en = await seed(10 * 24 * HOUR);
    const nobody = await seed(10 * 24 * HOUR, { telegram: false });
    const disabled = await seed(10 * 24 * HOUR, { status: 'DISABLED' });
    await run('reset_monthly_traffic');
    // Run again (a retry, or a second trigger): nobody is told twice.
    await run('reset_monthly_traffic');
    const month = new Date().toISOString().slice(0, 7);
    const ruTold = await poll(async () => ((await sentTo(ru)).length ? await sentTo(ru) : undefined), { what: 'the reset message' });
    const enTold = await poll(async () => ((await sentTo(en)).length ? await sentTo(en) : undefined), { what: 'the reset message' });
    expect(ruTold.map((d) => d.text)).toEqual([`🔄 Новый месяц: счётчик трафика обнулён (${month}).`]);
    expect(enTold.map((d) => d.text)).toEqual([`🔄 A new month: your traffic counter was reset to zero (${month}).`]);
    expect(await sentTo(nobody)).toEqual([]);
    expect(await sentTo(disabled)).toEqual([]);
  });

  it('sends users with auto-renew an invoice when their expiry is within the hour, once', async () => {
    const user = await seed(40 * 60_000);
    await withTestDb((db) =>
      db
        .insert(autoRenewalsTable)
        .values({ panelUserId: user.id, telegramId: user.telegramId as number, plan: 'month', days: 30, amount: '4.99', asset: 'USDT' }),
    );
    expect(await run('auto_renew_subscriptions')).toMatchObject({ invoiced: 1 });
    expect(await run('auto_renew_subscriptions')).toMatchObject({ invoiced: 0 });
    const message = await poll(async () => (await sentTo(user)).at(0)?.text, { what: 'the renewal invoice' });
    expect(message).toMatch(/Pay 4\.99 USDT to renew: https?:\/\//);
  });
});

describe('panel webhooks', () => {
  const post = (body: string, signature?: string) =>
    postPanelEvent(body, signature === undefined ? {} : { 'x-remnawave-signature': signature });
  const userEvent = async (event: string, id: number) =>
    JSON.stringify({ scope: 'user', event, timestamp: new Date().toISOString(), data: await panelObject(`/api/users/${id}`), meta: null });

  it('refuses a wrong signature with 401', async () => {
    const u = await seed(-HOUR);
    const body = await userEvent('user.expired', u.id);
    expect((await post(body, panelSignature(body, 'other-secret-of-the-same-length-0123'))).status).toBe(401);
    expect((await post(body, '')).status).toBe(401);
  });

  it('tells the user at user.expired, and the job later says nothing twice', async () => {
    const u = await seed(-HOUR);
    const res = await post(await userEvent('user.expired', u.id));
    expect(await res.json()).toEqual({ ok: true, told: 1 });
    await poll(async () => (await sentTo(u)).at(0), { what: 'the expiry message' });
    await run('disable_expired_users');
    await run('process_notifications');
    expect(await sentTo(u)).toHaveLength(1);
  });

  it('tells the user when a delivery of user.expired failed half-way: the panel sends it again', async () => {
    const u = await seed(-HOUR);
    const accept = await refuseNotificationsTo(u.telegramId as number);
    const body = await userEvent('user.expired', u.id);
    expect((await post(body)).status).toBe(500);
    await accept();
    expect(await post(body).then((r) => r.json())).toEqual({ ok: true, told: 1 });
    await poll(async () => (await sentTo(u)).at(0), { what: 'the expiry message' });
    await run('disable_expired_users');
    await run('process_notifications');
    expect(await sentTo(u)).toHaveLength(1);
  });

  it('reminds at user.expiration, acknowledges other events, and names a bad field', async () => {
    const u = await seed(20 * HOUR);
    expect(await (await post(await userEvent('user.expiration', u.id))).json()).toEqual({ ok: true, told: 1 });
    expect(await (await post(await userEvent('user.modified', u.id))).json()).toEqual({ ok: true, ignored: 'user.modified' });
    const bad = await post(JSON.stringify({ scope: 'user', event: 'user.expired', timestamp: new Date().toISOString(), data: {} }));
    expect(bad.status).toBe(400);
  });
});

// Last: three 503s in a row open this isolate's breaker for the panel.
describe('panel outage', () => {
  it("fails the run for a later retry when the panel answers 503 past the client's own tries", async () => {
    await configurePanel({ failNext: { status: 503, count: 3 } });
    const runId = await kickOverHttp('subscription_reminders');
    // Three 503s use up the client's own tries: the run fails and is scheduled again after 60 s.
    const failed = await runWithStatus(runId, 'failed', 20_000);
    expect(failed.error).toContain('503');
  });
});
