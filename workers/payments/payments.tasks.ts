import { eq } from 'drizzle-orm';
import { z } from 'zod';
import { cryptoPay, type Invoice } from '../clients/cryptobot';
import { ServiceError } from '../clients/http';
import { remnawave } from '../clients/remnawave';
import { escapeHtml, notifyAdmins } from '../core/telegram';
import { notify } from '../notifications/notifications.service';
import { renderTemplate } from '../notifications/templates';
import { defineTask, PermanentTaskError, seedPolicies, type TaskContext } from '../tasks/task';
import { usersTable } from '../users/users.schema';
import {
  audit,
  claimWebhookRetries,
  expirePayments,
  findPaymentByInvoice,
  finishPayment,
  fixTargetExpiry,
  markWebhookProcessed,
  pendingPayments,
  storeDailyStats,
} from './payments.repo';
import type { Payment } from './payments.schema';

const DAY_MS = 86_400_000;

/** The payment and its invoice disagree on what was charged. */
function mismatch(p: Payment, invoice: Invoice): string | undefined {
  if ((invoice.asset ?? '') !== p.asset) return `asset ${invoice.asset ?? 'none'} ≠ ${p.asset}`;
  if (Number(invoice.amount) !== Number(p.amount)) return `amount ${invoice.amount} ≠ ${p.amount}`;
  return undefined;
}

/**
 * Completes a paid invoice: idempotent (a completed payment is a no-op success). The invoice is read
 * from the Crypto Pay API, not trusted from the webhook. An amount or asset mismatch alerts the admins
 * and activates nothing. Activation sets an absolute expiry fixed on the first try, so a retry never
 * extends twice; the user is told once (the notification's dedupe key is the invoice).
 */
export const processPaymentCompletionTask = defineTask({
  name: 'process_payment_completion',
  args: z.object({ invoice_id: z.number().int().positive() }),
  retry: seedPolicies.payments,
  requires: ['payments', 'panel'],
  onExhausted: 'critical',
  handler: async (ctx) => {
    const { args, db, config, log } = ctx;
    const payment = await findPaymentByInvoice(db, args.invoice_id);
    if (!payment) throw new PermanentTaskError(`no payment for invoice ${args.invoice_id}`);
    if (payment.status !== 'pending') {
      await markWebhookProcessed(db, 'cryptobot', String(args.invoice_id));
      return { invoice_id: args.invoice_id, status: payment.status, changed: false };
    }
    const [invoice] = await cryptoPay(config).getInvoices({ invoice_ids: [args.invoice_id] });
    if (!invoice) throw new PermanentTaskError(`CryptoBot does not know invoice ${args.invoice_id}`);
    if (invoice.status !== 'paid') throw new Error(`invoice ${args.invoice_id} is ${invoice.status}, not paid`);
    const wrong = mismatch(payment, invoice);
    if (wrong) {
      if (await finishPayment(db, payment.id, 'mismatch', wrong)) {
        await audit(db, 'payment_mismatch', 'payment', payment.id, { invoice_id: invoice.invoice_id, problem: wrong });
        log.error('payment_mismatch', { payment: payment.id, invoice_id: invoice.invoice_id, problem: wrong });
        await notifyAdmins(
          ctx.api,
          config,
          `🚨 <b>Payment mismatch</b>, nothing activated\ninvoice ${invoice.invoice_id}: ${escapeHtml(wrong)}`,
          log,
        );
      }
      await markWebhookProcessed(db, 'cryptobot', String(args.invoice_id));
      return { invoice_id: args.invoice_id, status: 'mismatch', changed: true };
    }
    const expires = await activate(ctx, payment);
    if (await finishPayment(db, payment.id, 'completed')) {
      await audit(db, 'payment_completed', 'payment', payment.id, {
        invoice_id: invoice.invoice_id,
        remnawave_user_id: payment.remnawaveUserId,
        expires_at: expires.toISOString(),
      });
      if (payment.telegramId) await confirm(ctx, payment, expires);
    }
    await markWebhookProcessed(db, 'cryptobot', String(args.invoice_id));
    return { invoice_id: args.invoice_id, status: 'completed', changed: true, expires_at: expires.toISOString() };
  },
});

/** Sets the panel user's expiry to the payment's target (from the later of now and their expiry). */
async function activate({ db, config }: TaskContext<unknown>, payment: Payment): Promise<Date> {
  const panel = remnawave(config);
  let target = payment.targetExpireAt;
  if (!target) {
    const user = await panel.getUser(payment.remnawaveUserId).catch((err: unknown) => {
      if (err instanceof ServiceError && err.status === 404)
        throw new PermanentTaskError(`panel user ${payment.remnawaveUserId} does not exist`);
      throw err;
    });
    const base = Math.max(Date.now(), new Date(user.expireAt).getTime());
    target = await fixTargetExpiry(db, payment.id, new Date(base + payment.days * DAY_MS));
  }
  await panel.updateUser({ id: payment.remnawaveUserId, expireAt: target.toISOString(), status: 'ACTIVE' });
  return target;
}

async function confirm({ db, kick }: TaskContext<unknown>, payment: Payment, expires: Date): Promise<void> {
  const telegramId = payment.telegramId as number;
  const [user] = await db.select({ lang: usersTable.languageCode }).from(usersTable).where(eq(usersTable.telegramId, telegramId));
  const text = renderTemplate('payment-confirmed', user?.lang, {
    amount: payment.amount,
    asset: payment.asset,
    plan: escapeHtml(payment.plan),
    expires: expires.toISOString().slice(0, 10),
  });
  await notify({ db, kick }, [{ telegramId, type: 'payment_confirmed', text, dedupeKey: `payment:${payment.invoiceId}` }]);
}

/**
 * Every 5 minutes: pending payments of the last 24 h checked in one `getInvoices` call per 100; a
 * paid one is completed; older than 24 h → failed, and the user told.
 */
export const verifyPendingPaymentsTask = defineTask({
  name: 'verify_pending_payments',
  args: z.object({}).strict(),
  retry: seedPolicies.payments,
  requires: ['payments'],
  onExhausted: 'critical',
  handler: async ({ db, config, kick }) => {
    const pending = await pendingPayments(db, new Date(Date.now() - DAY_MS));
    const api = pending.length ? cryptoPay(config) : undefined;
    let paid = 0;
    for (let i = 0; i < pending.length; i += 100) {
      const chunk = pending.slice(i, i + 100);
      const invoices = await (api as NonNullable<typeof api>).getInvoices({ invoice_ids: chunk.map((p) => p.invoiceId), count: 100 });
      for (const inv of invoices.filter((v) => v.status === 'paid')) {
        await kick('process_payment_completion', { invoice_id: inv.invoice_id }, { idempotencyKey: `payment:${inv.invoice_id}` });
        paid++;
      }
    }
    const expired = await expirePayments(db, new Date(Date.now() - DAY_MS));
    const told = expired.filter((p) => p.telegramId !== null);
    if (told.length)
      await notify(
        { db, kick },
        told.map((p) => ({
          telegramId: p.telegramId as number,
          type: 'payment_expired',
          text: renderTemplate('payment-expired', null, { amount: p.amount, asset: p.asset }),
          dedupeKey: `payment-expired:${p.invoiceId}`,
        })),
      );
    return { checked: pending.length, paid, expired: expired.length };
  },
});

/**
 * Every 30 minutes: valid provider webhooks of the last 24 h that are still unprocessed (older than 5
 * minutes, so the normal path had its chance) are processed again, at most 3 times each.
 */
export const retryFailedWebhooksTask = defineTask({
  name: 'retry_failed_webhooks',
  args: z.object({}).strict(),
  retry: seedPolicies.payments,
  requires: ['payments'],
  onExhausted: 'critical',
  handler: async ({ db, kick }) => {
    const due = await claimWebhookRetries(db);
    for (const w of due)
      await kick(
        'process_payment_completion',
        { invoice_id: Number(w.event_key) },
        { idempotencyKey: `payment:${w.event_key}:retry:${w.attempts}` },
      );
    return { retried: due.length };
  },
});

/** Daily at 00:30 UTC: yesterday's completed payments by asset, plan and provider, stored for the reports. */
export const dailyFinancialStatsTask = defineTask({
  name: 'daily_financial_stats',
  args: z.object({ day: z.iso.date().optional() }).strict(),
  // An aggregation (the seed's analytics row): the reports read the payments themselves.
  retry: seedPolicies.analytics,
  onExhausted: 'skip',
  handler: async ({ args, db }) => {
    const day = args.day ?? new Date(Date.now() - DAY_MS).toISOString().slice(0, 10);
    return { day, stats: await storeDailyStats(db, day) };
  },
});

export const paymentTasks = [processPaymentCompletionTask, verifyPendingPaymentsTask, retryFailedWebhooksTask, dailyFinancialStatsTask];
