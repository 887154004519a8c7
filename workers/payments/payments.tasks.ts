import { eq } from 'drizzle-orm';
import { z } from 'zod';
import { cryptoPay, type Invoice } from '../clients/cryptobot';
import { ServiceError } from '../clients/http';
import { remnawave } from '../clients/remnawave';
import { sleepUntil } from '../core/concurrency';
import type { Db } from '../core/db';
import { errorMessage } from '../core/logger';
import { escapeHtml } from '../core/telegram';
import { notifyAdmins } from '../incidents/incidents';
import { notify } from '../notifications/notifications.service';
import { renderTemplate } from '../notifications/templates';
import { defineTask, PermanentTaskError, seedPolicies, type TaskContext } from '../tasks/task';
import { findByIdempotencyKeys } from '../tasks/tasks.repo';
import { usersTable } from '../users/users.schema';
import {
  claimWebhookRetries,
  completable,
  expirePayment,
  findPaymentByInvoice,
  finishPayment,
  fixTargetExpiry,
  leasePanelUser,
  markWebhookProcessed,
  pendingPayments,
  pendingTargetOf,
  releasePanelUser,
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
 * extends twice; the user is told once (the notification's dedupe key is the invoice). A payment we
 * expired unpaid whose invoice is paid after all is completed too. When its tries are used up the
 * admins get a CRITICAL alert, and `verify_pending_payments` kicks it again under a fresh key.
 */
const processPaymentCompletionTask = defineTask({
  name: 'process_payment_completion',
  args: z.object({ invoice_id: z.number().int().positive() }),
  retry: seedPolicies.payments,
  requires: ['payments', 'panel'],
  onExhausted: 'critical',
  handler: async (ctx) => {
    const { args, db, config, log } = ctx;
    const payment = await findPaymentByInvoice(db, args.invoice_id);
    if (!payment) throw new PermanentTaskError(`no payment for invoice ${args.invoice_id}`);
    if (!completable(payment)) {
      // An earlier try may have completed it and failed before the user was told: telling is deduped
      // by the invoice, so it is asked again.
      if (payment.status === 'completed' && payment.telegramId && payment.targetExpireAt)
        await confirm(ctx, payment, payment.targetExpireAt);
      await markWebhookProcessed(db, 'cryptobot', String(args.invoice_id));
      return { invoice_id: args.invoice_id, status: payment.status, changed: false };
    }
    const [invoice] = await cryptoPay(config).getInvoices({ invoice_ids: [args.invoice_id] });
    if (!invoice) throw new PermanentTaskError(`CryptoBot does not know invoice ${args.invoice_id}`);
    if (invoice.status !== 'paid') throw new Error(`invoice ${args.invoice_id} is ${invoice.status}, not paid`);
    const wrong = mismatch(payment, invoice);
    if (wrong) {
      const audit = { action: 'payment_mismatch', details: { invoice_id: invoice.invoice_id, problem: wrong } };
      if (await finishPayment(db, payment.id, 'mismatch', { error: wrong, audit })) {
        log.error('payment_mismatch', { payment: payment.id, invoice_id: invoice.invoice_id, problem: wrong });
        await notifyAdmins(
          ctx.env,
          config,
          `🚨 <b>Payment mismatch</b>, nothing activated\ninvoice ${invoice.invoice_id}: ${escapeHtml(wrong)}`,
          log,
        );
      }
      await markWebhookProcessed(db, 'cryptobot', String(args.invoice_id));
      return { invoice_id: args.invoice_id, status: 'mismatch', changed: true };
    }
    const expires = await activate(ctx, payment);
    const details = { invoice_id: invoice.invoice_id, remnawave_user_id: payment.remnawaveUserId, expires_at: expires.toISOString() };
    if ((await finishPayment(db, payment.id, 'completed', { audit: { action: 'payment_completed', details } })) && payment.telegramId)
      await confirm(ctx, payment, expires);
    await markWebhookProcessed(db, 'cryptobot', String(args.invoice_id));
    return { invoice_id: args.invoice_id, status: 'completed', changed: true, expires_at: expires.toISOString() };
  },
});

/** How long an activation may hold a panel user's lease: a few panel calls of 4 s at most each, with margin. */
const PANEL_LEASE_MS = 60_000;
/** While another payment of the user holds the lease, the run asks again this often, this many times (~10 s), then tries later. */
const LEASE_POLL_MS = 500;
const LEASE_TRIES = 20;

/**
 * Sets the panel user's expiry to the payment's target: `days` from the latest of now, their expiry
 * and what another payment of theirs fixed and has not completed, fixed on the first try. Under the
 * user's lease: a second payment of the same user waits (its run tries again), so each extends from
 * the other's end and neither write can land under the other.
 */
async function activate({ db, config, log }: TaskContext<unknown>, payment: Payment): Promise<Date> {
  const panel = remnawave(config);
  const userId = payment.remnawaveUserId;
  const holder = crypto.randomUUID();
  for (let tries = 1; !(await leasePanelUser(db, userId, holder, PANEL_LEASE_MS)); tries++) {
    if (tries >= LEASE_TRIES) throw new Error(`panel user ${userId} is being extended by another payment; trying again`);
    await sleepUntil(Date.now() + LEASE_POLL_MS);
  }
  try {
    const user = await panel.getUser(userId).catch((err: unknown) => {
      if (err instanceof ServiceError && err.status === 404) throw new PermanentTaskError(`panel user ${userId} does not exist`);
      throw err;
    });
    const expires = new Date(user.expireAt).getTime();
    let target = payment.targetExpireAt;
    if (!target) {
      const pending = (await pendingTargetOf(db, userId, payment.id))?.getTime() ?? 0;
      target = await fixTargetExpiry(db, payment.id, new Date(Math.max(Date.now(), expires, pending) + payment.days * DAY_MS));
    }
    // A retry may find its target written already, or passed by a payment that counted from it: the
    // expiry never moves back.
    if (expires < target.getTime() || user.status !== 'ACTIVE')
      await panel.updateUser({ id: userId, expireAt: new Date(Math.max(expires, target.getTime())).toISOString(), status: 'ACTIVE' });
    return target;
  } finally {
    // Not released, the lease ends by itself within PANEL_LEASE_MS.
    await releasePanelUser(db, userId, holder).catch((err: unknown) => log.warn('panel_lease_not_released', { error: errorMessage(err) }));
  }
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

/** Most dead completions of one invoice followed to find a free key (each took 13 minutes and a CRITICAL alert). */
const MAX_COMPLETION_CHAIN = 20;

/**
 * The idempotency key to kick an invoice's completion with: `payment:<invoice>` (the webhook's), or,
 * when the run holding it is dead, `payment:<invoice>:after:<that run>`, and so on. Deterministic, so
 * two verifications at once kick one run; a live or finished run's key is returned as is.
 */
async function completionKey(db: Db, invoiceId: number): Promise<string | undefined> {
  let key = `payment:${invoiceId}`;
  for (let i = 0; i < MAX_COMPLETION_CHAIN; i++) {
    const [run] = await findByIdempotencyKeys(db, [key]);
    if (run?.status !== 'dead') return key;
    key = `payment:${invoiceId}:after:${run.id}`;
  }
  return undefined;
}

/**
 * Every 5 minutes: every pending payment checked with `getInvoices` (100 per call). Paid → completion
 * kicked (again under a fresh key if an earlier one died). Not paid and older than 24 h (the
 * invoice's own lifetime) → `failed`, and the user told it expired unpaid. The invoice is always
 * consulted first: a payment whose invoice is paid is never expired, and while Crypto Pay does not
 * answer nothing is expired.
 */
const verifyPendingPaymentsTask = defineTask({
  name: 'verify_pending_payments',
  args: z.object({}).strict(),
  retry: seedPolicies.payments,
  requires: ['payments'],
  onExhausted: 'critical',
  handler: async ({ db, config, kick, log }) => {
    const pending = await pendingPayments(db);
    if (!pending.length) return { checked: 0, paid: 0, expired: 0 };
    const api = cryptoPay(config);
    const invoices = new Map<number, Invoice>();
    for (let i = 0; i < pending.length; i += 100) {
      const chunk = pending.slice(i, i + 100);
      for (const inv of await api.getInvoices({ invoice_ids: chunk.map((p) => p.invoiceId), count: 100 }))
        invoices.set(inv.invoice_id, inv);
    }
    const cutoff = Date.now() - DAY_MS;
    let paid = 0;
    const expired: Payment[] = [];
    for (const p of pending) {
      const invoice = invoices.get(p.invoiceId);
      if (invoice?.status === 'paid') {
        const key = await completionKey(db, p.invoiceId);
        if (key) await kick('process_payment_completion', { invoice_id: p.invoiceId }, { idempotencyKey: key });
        else log.error('payment_completion_given_up', { invoice_id: p.invoiceId, dead_runs: MAX_COMPLETION_CHAIN });
        paid++;
      } else if (p.createdAt.getTime() < cutoff) {
        // Nothing expires if it was completed meanwhile: neither logged nor told.
        const row = await expirePayment(db, p.id);
        if (!row) continue;
        expired.push(row);
        log.info('payment_expired', { invoice_id: p.invoiceId, invoice_status: invoice?.status ?? 'unknown' });
      }
    }
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
const retryFailedWebhooksTask = defineTask({
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
const dailyFinancialStatsTask = defineTask({
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
