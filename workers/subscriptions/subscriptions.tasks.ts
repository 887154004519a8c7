import { and, eq, gt, inArray, sql } from 'drizzle-orm';
import { z } from 'zod';
import { ServiceError } from '../clients/http';
import { PANEL_BULK_LIMIT, remnawave } from '../clients/remnawave';
import { notify } from '../notifications/notifications.service';
import { renderTemplate } from '../notifications/templates';
import { audit } from '../payments/payments.repo';
import { paymentsTable } from '../payments/payments.schema';
import { createPayment } from '../payments/payments.service';
import { defineTask, seedPolicies } from '../tasks/task';
import { autoRenewalsTable } from './subscriptions.schema';
import { remindExpiring, tellExpired, tellTrafficReset } from './subscriptions.service';

/** The seed's policy for subscription jobs: 3 retries, 60 s apart, then the admins are told. */
const retry = seedPolicies.subscriptions;

/** Hourly: reminders at 7 d, 3 d, 24 h and 6 h before expiry, each bracket once per user and expiry. */
const subscriptionRemindersTask = defineTask({
  name: 'subscription_reminders',
  args: z.object({}).strict(),
  retry,
  requires: ['panel'],
  timeoutSeconds: 300,
  handler: async ({ db, config, kick, signal }) => {
    const users = await remnawave(config, { signal }).allUsers();
    return { users: users.length, reminded: await remindExpiring({ db, kick }, users, Date.now()) };
  },
});

/**
 * Every 15 minutes: users still ACTIVE past their expiry are disabled (the panel marks most EXPIRED
 * itself), each with an audit row; everyone whose subscription ended is told once. A user the panel
 * no longer has (404) is logged and skipped.
 */
const disableExpiredUsersTask = defineTask({
  name: 'disable_expired_users',
  args: z.object({}).strict(),
  retry,
  requires: ['panel'],
  timeoutSeconds: 300,
  handler: async ({ db, config, kick, log, signal }) => {
    const panel = remnawave(config, { signal });
    const now = Date.now();
    const users = await panel.allUsers();
    const ended = users.filter((u) => new Date(u.expireAt).getTime() <= now && (u.status === 'ACTIVE' || u.status === 'EXPIRED'));
    let disabled = 0;
    let skipped = 0;
    for (const user of ended.filter((u) => u.status === 'ACTIVE')) {
      try {
        await panel.disableUser(user.id);
        await audit(db, 'subscription_disabled', 'panel_user', user.id, {
          expire_at: new Date(user.expireAt).toISOString(),
          reason: 'expired',
        });
        disabled++;
      } catch (err) {
        if (!(err instanceof ServiceError) || err.status !== 404) throw err;
        log.warn('panel_user_missing', { panel_user_id: user.id, error: err.message });
        skipped++;
      }
    }
    const told = await tellExpired({ db, kick }, ended);
    return { expired: ended.length, disabled, skipped, told };
  },
});

/**
 * On the 1st at 00:00 UTC: every active user's traffic reset through the panel's bulk route, 500 ids a
 * call; then each of them with a Telegram id is told, once per month (a retry tells nobody twice).
 */
const resetMonthlyTrafficTask = defineTask({
  name: 'reset_monthly_traffic',
  args: z.object({}).strict(),
  retry,
  requires: ['panel'],
  timeoutSeconds: 600,
  handler: async ({ db, config, kick, progress, signal }) => {
    const panel = remnawave(config, { signal });
    const active = (await panel.allUsers()).filter((u) => u.status === 'ACTIVE');
    const ids = active.map((u) => u.id);
    for (let i = 0; i < ids.length; i += PANEL_BULK_LIMIT) {
      await panel.bulkResetTraffic(ids.slice(i, i + PANEL_BULK_LIMIT));
      await progress({ done: Math.min(i + PANEL_BULK_LIMIT, ids.length), total: ids.length });
    }
    const told = await tellTrafficReset({ db, kick }, active, new Date().toISOString().slice(0, 7));
    return { reset: ids.length, calls: Math.ceil(ids.length / PANEL_BULK_LIMIT), told };
  },
});

/**
 * Every 30 minutes: users with auto-renew whose expiry is within the hour get a CryptoBot invoice and
 * a message with its pay link (one per user while an invoice of the last two hours is pending); the
 * payment webhook finishes the renewal.
 */
const autoRenewTask = defineTask({
  name: 'auto_renew_subscriptions',
  args: z.object({}).strict(),
  retry,
  requires: ['panel', 'payments'],
  timeoutSeconds: 300,
  handler: async ({ db, config, kick, run, signal }) => {
    const renewals = await db.select().from(autoRenewalsTable).where(eq(autoRenewalsTable.enabled, true));
    if (!renewals.length) return { candidates: 0, invoiced: 0 };
    const now = Date.now();
    const byId = new Map((await remnawave(config, { signal }).allUsers()).map((u) => [u.id, u]));
    const soon = renewals.filter((r) => {
      const user = byId.get(r.panelUserId);
      const left = user ? new Date(user.expireAt).getTime() - now : -1;
      return left > 0 && left <= 3_600_000;
    });
    const open = soon.length
      ? await db
          .select({ id: paymentsTable.remnawaveUserId })
          .from(paymentsTable)
          .where(
            and(
              eq(paymentsTable.status, 'pending'),
              inArray(
                paymentsTable.remnawaveUserId,
                soon.map((r) => r.panelUserId),
              ),
              gt(paymentsTable.createdAt, sql`now() - interval '2 hours'`),
            ),
          )
      : [];
    const invoiced = new Set(open.map((o) => o.id));
    let created = 0;
    for (const r of soon.filter((s) => !invoiced.has(s.panelUserId))) {
      const expireAt = new Date(byId.get(r.panelUserId)?.expireAt ?? 0).toISOString();
      // One invoice per user and expiry: a retried run finds the one an earlier try created.
      const payment = await createPayment(
        db,
        config,
        { remnawaveUserId: r.panelUserId, telegramId: r.telegramId, plan: r.plan, days: r.days, amount: r.amount, asset: r.asset },
        { ref: `renewal:${r.panelUserId}:${expireAt}`, retry: run.attempt > 1, signal },
      );
      await notify({ db, kick }, [
        {
          telegramId: r.telegramId,
          type: 'renewal_invoice',
          text: renderTemplate('renewal-invoice', null, { amount: r.amount, asset: r.asset, url: payment.payUrl ?? '' }),
          dedupeKey: `renewal:${payment.invoiceId}`,
        },
      ]);
      created++;
    }
    return { candidates: soon.length, invoiced: created };
  },
});

export const subscriptionTasks = [subscriptionRemindersTask, disableExpiredUsersTask, resetMonthlyTrafficTask, autoRenewTask];
