import { z } from 'zod';
import { retrying } from '../core/concurrency';
import { errorMessage } from '../core/logger';
import { escapeHtml } from '../core/telegram';
import { notifyAdmins } from '../incidents/incidents';
import { backoffFor, defineTask, PermanentTaskError } from '../tasks/task';
import { type Outbound, outboundOf } from '../telegram/outbound';
import { deactivateUsers } from '../users/users.repo';
import { type Claimed, claimDue, insertBulkNotifications, type Settled, settleAndClaim } from './notifications.repo';
import { notify } from './notifications.service';

/** Waits before try 2, 3, … of a queued notification (the seed's policy: 30 s, 1 m, 5 m, 15 m, 1 h). */
const NOTIFICATION_BACKOFF_SECONDS = [30, 60, 300, 900, 3600];
/** Sends of one run waiting on Telegram at once: the invocation's connections (its outbound path holds the cap). */
const SENDS_AT_ONCE = 6;

const parseMode = z.enum(['HTML', 'MarkdownV2']).nullable().default('HTML');
const sendOptions = (mode: string | null): { parse_mode?: 'HTML' | 'MarkdownV2' } =>
  mode === 'HTML' || mode === 'MarkdownV2' ? { parse_mode: mode } : {};

/** How long one run keeps claiming batches before it hands over to a fresh run. */
const RUN_BUDGET_MS = 60_000;

/**
 * Sends due notifications: claims a batch (`NOTIFICATION_BATCH_SIZE`), sends each through the
 * outbound path, settles it and claims the next in one statement, and goes on for up to 60 s; if
 * there is still more, it kicks a fresh run. Kicked after inserts (one run per burst: the dispatch
 * flag), and every minute by cron as the safety net.
 */
export const processNotificationsTask = defineTask({
  name: 'process_notifications',
  args: z.object({}).strict(),
  // A failed send is counted on its row, not by retrying the run: the next run or the sweep takes it.
  retry: { maxAttempts: 1, backoffSeconds: [60] },
  timeoutSeconds: 300,
  handler: async (ctx) => {
    const { db, api, config, kick } = ctx;
    const telegram = outboundOf(api);
    const size = config.NOTIFICATION_BATCH_SIZE;
    const started = Date.now();
    // Two batches in hand at a time, in one pool of senders: one sending, the next waiting, so the
    // pool never drains between them. A batch settles as soon as its last send is back, and the same
    // statement claims the next: one round trip per batch.
    type Batch = { rows: Claimed[]; outcomes: Outcome[]; left: number };
    const queue: { n: Claimed; batch: Batch; i: number }[] = [];
    const results: BatchResult[] = [];
    let open = 0;
    // The last claim came back full: there may be more due.
    let backlog = true;
    const claimMore = () => backlog && Date.now() - started < RUN_BUDGET_MS;
    let waiting: (() => void)[] = [];
    const take = (rows: Claimed[], asked: number) => {
      if (asked) backlog = rows.length === asked;
      if (rows.length) {
        open++;
        const batch: Batch = { rows, outcomes: new Array<Outcome>(rows.length), left: rows.length };
        for (const [i, n] of rows.entries()) queue.push({ n, batch, i });
      }
      for (const wake of waiting.splice(0)) wake();
    };
    take(await claimDue(db, size), size);
    if (claimMore()) take(await claimDue(db, size), size);
    const sender = async () => {
      for (;;) {
        const item = queue.shift();
        if (!item) {
          if (!open) return;
          // A batch is settling and claiming the next: wait for what it brings.
          await new Promise<void>((resolve) => waiting.push(resolve));
          continue;
        }
        const { n, batch, i } = item;
        batch.outcomes[i] = await sendOne(telegram, n, config.NOTIFICATION_MAX_RETRIES + 1);
        if (--batch.left === 0) {
          const asked = claimMore() ? size : 0;
          const { result, next } = await settleBatch(ctx, batch.rows, batch.outcomes, asked);
          results.push(result);
          open--;
          take(next, asked);
        }
      }
    };
    await Promise.all(Array.from({ length: SENDS_AT_ONCE }, sender));
    waiting = [];
    // Out of time with more due: a fresh run takes over.
    if (backlog) await kick('process_notifications', {});
    return results.reduce(
      (t, r) => ({
        claimed: t.claimed + r.claimed,
        sent: t.sent + r.sent,
        failed: t.failed + r.failed,
        unknown: t.unknown + r.unknown,
        retrying: t.retrying + r.retrying,
      }),
      { claimed: 0, sent: 0, failed: 0, unknown: 0, retrying: 0 },
    );
  },
});

type ProcessContext = Parameters<typeof processNotificationsTask.handler>[0];

type BatchResult = { claimed: number; sent: number; failed: number; unknown: number; retrying: number };

/** Waits between tries of a batch's settle, in ms. */
const SETTLE_RETRY_MS = [250, 1000, 3000];

/**
 * Records a batch's outcomes and claims up to `claim` more (one statement), deactivates who blocked
 * the bot, and alerts about exhausted ones.
 */
async function settleBatch(
  { db, env, config, log }: ProcessContext,
  claimed: Claimed[],
  outcomes: Outcome[],
  claim: number,
): Promise<{ result: BatchResult; next: Claimed[] }> {
  // Tried again when Postgres fails it: its sends have left, and a batch left claimed would be sent
  // again once its claim ran out. A settle that did commit changes nothing when repeated (it only
  // moves pending rows); what a repeat claims besides waits for its claim to end.
  const next = await retrying(
    () => settleAndClaim(db, outcomes, claim),
    SETTLE_RETRY_MS,
    (attempt, err) => log.warn('notifications_settle_retried', { attempt, error: errorMessage(err) }),
  );
  const blocked = claimed.filter((_, i) => outcomes[i]?.refusedBy === 'user');
  if (blocked.length) await deactivateUsers(db, [...new Set(blocked.map((n) => n.telegram_id))]);
  // Failed after every try (not refused by the user): the admins hear of it once, in one message.
  const exhausted = claimed.flatMap((n, i) => {
    const o = outcomes[i];
    return o?.status === 'failed' && n.attempts > config.NOTIFICATION_MAX_RETRIES && !o.refusedBy ? [{ n, error: o.error ?? '' }] : [];
  });
  if (exhausted.length) {
    log.error('notifications_failed', { count: exhausted.length, ids: exhausted.map((e) => e.n.id) });
    const lines = exhausted.slice(0, 10).map((e) => `• ${escapeHtml(e.n.type)} → ${e.n.telegram_id}: ${escapeHtml(e.error.slice(0, 150))}`);
    if (exhausted.length > 10) lines.push('…');
    await notifyAdmins(
      env,
      config,
      `⚠️ <b>${exhausted.length} notification(s) failed</b> after ${config.NOTIFICATION_MAX_RETRIES + 1} tries\n${lines.join('\n')}`,
      log,
    );
  }
  const count = (status: Settled['status']) => outcomes.filter((o) => o.status === status).length;
  return {
    result: {
      claimed: claimed.length,
      sent: count('sent'),
      failed: count('failed'),
      unknown: count('unknown'),
      retrying: count('pending'),
    },
    next,
  };
}

type Outcome = Settled & {
  /** Refused for good: by the user (blocked the bot: deactivate them) or by Telegram (bad chat, markup). */
  refusedBy?: 'user' | 'telegram';
};

/**
 * Sends one claimed notification and says what became of it. What may have reached Telegram (a 5xx,
 * a timeout) is `unknown` and never sent again; only a send that surely did not leave is retried.
 */
async function sendOne(telegram: Outbound, n: Claimed, maxTries: number): Promise<Outcome> {
  const outcome = await telegram.send('sendMessage', { chat_id: n.telegram_id, text: n.text, ...sendOptions(n.parse_mode) });
  switch (outcome.kind) {
    case 'ok':
      return { id: n.id, status: 'sent', messageId: (outcome.result as { message_id?: number } | undefined)?.message_id };
    case 'blocked':
      return { id: n.id, status: 'failed', error: outcome.reason, refusedBy: 'user' };
    case 'permanent':
      return { id: n.id, status: 'failed', error: outcome.reason, refusedBy: 'telegram' };
    case 'unknown':
      return { id: n.id, status: 'unknown', error: outcome.reason };
    case 'retry_after':
      // The bot is waiting out a flood limit: try again when it ends; this try does not count.
      return { id: n.id, status: 'pending', error: outcome.reason, retryAt: new Date(outcome.until), uncount: true };
    default: {
      if (n.attempts >= maxTries) return { id: n.id, status: 'failed', error: outcome.reason };
      // Claiming counted this try, so attempts >= 1: the task runtime's backoff table lookup.
      const wait = backoffFor({ maxAttempts: maxTries, backoffSeconds: NOTIFICATION_BACKOFF_SECONDS }, n.attempts);
      return { id: n.id, status: 'pending', error: outcome.reason, retryAt: new Date(Date.now() + wait * 1000) };
    }
  }
}

/**
 * One message to one user now: 3 tries (10 s, 30 s), then it goes to the notification queue for
 * later. Returns the message id, or where it was queued.
 */
export const sendNotificationTask = defineTask({
  name: 'send_notification',
  args: z.object({
    telegram_id: z.number().int(),
    message: z.string().min(1).max(4096),
    type: z.string().min(1).max(64).default('custom'),
    parse_mode: parseMode,
  }),
  retry: { maxAttempts: 4, backoffSeconds: [10, 30, 90] },
  // Exhausted tries go to the notification queue; a dead run is a refusal (blocked, bad markup), not an incident.
  onExhausted: 'warn',
  handler: async ({ args, run, db, api, kick }) => {
    const outcome = await outboundOf(api).send('sendMessage', {
      chat_id: args.telegram_id,
      text: args.message,
      ...sendOptions(args.parse_mode),
    });
    switch (outcome.kind) {
      case 'ok': {
        const m = outcome.result as { message_id: number; date: number };
        return { message_id: m.message_id, sent_at: new Date(m.date * 1000).toISOString() };
      }
      case 'blocked':
        await deactivateUsers(db, [args.telegram_id]);
        throw new PermanentTaskError(outcome.reason);
      case 'permanent':
        throw new PermanentTaskError(outcome.reason);
      case 'unknown':
        // It may have been delivered: another try could send it twice.
        return { outcome: 'unknown', reason: outcome.reason };
      default: {
        if (run.attempt < run.maxAttempts) throw new Error(outcome.reason);
        const [id] = await notify({ db, kick }, [
          {
            telegramId: args.telegram_id,
            type: args.type,
            text: args.message,
            parseMode: args.parse_mode,
            dedupeKey: `send_notification:${run.id}`,
          },
        ]);
        return { deferred: true, notification_id: id ?? null, error: outcome.reason };
      }
    }
  },
});

/**
 * The same message to a list of users or to every active one: queued in one statement (duplicates
 * dropped, a retry queues nothing twice) and sent by `process_notifications` at the gate's pace,
 * which keeps this run's progress (`{done, total, sent, failed, unknown}`) up to date as the sends settle.
 */
const bulkNotifyTask = defineTask({
  name: 'bulk_notify',
  args: z.object({
    telegram_ids: z.union([z.array(z.number().int()).min(1).max(100_000), z.literal('all_active')]),
    message: z.string().min(1).max(4096),
    type: z.string().min(1).max(64).default('bulk'),
    parse_mode: parseMode,
  }),
  retry: { maxAttempts: 3, backoffSeconds: [60] },
  handler: async ({ args, run, db, kick, progress }) => {
    const { queued, kick: dispatch } = await insertBulkNotifications(db, run.id, args.telegram_ids, {
      type: args.type,
      text: args.message,
      parseMode: args.parse_mode,
    });
    await progress({ done: 0, total: queued, note: `${queued} queued` });
    if (dispatch) await kick('process_notifications', {});
    return { queued };
  },
});

export const notificationTasks = [processNotificationsTask, sendNotificationTask, bulkNotifyTask];
