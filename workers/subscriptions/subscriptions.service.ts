import { and, eq, inArray, sql } from 'drizzle-orm';
import { negotiateLocale, translator } from '../bot/i18n';
import type { Db } from '../core/db';
import type { NewNotification } from '../notifications/notifications.repo';
import { notify } from '../notifications/notifications.service';
import { renderTemplate } from '../notifications/templates';
import type { KickFn } from '../tasks/task';
import { usersTable } from '../users/users.schema';
import { subscriptionRemindersTable } from './subscriptions.schema';

const HOUR = 3_600_000;
/** Reminder brackets, nearest first: a user is in the first whose span covers the time left. */
export const BRACKETS = [
  { name: '6h', ms: 6 * HOUR },
  { name: '24h', ms: 24 * HOUR },
  { name: '3d', ms: 72 * HOUR },
  { name: '7d', ms: 168 * HOUR },
] as const;

export function bracketFor(msLeft: number): (typeof BRACKETS)[number]['name'] | undefined {
  if (msLeft <= 0) return undefined;
  return BRACKETS.find((b) => msLeft <= b.ms)?.name;
}

/** What the jobs need of a panel user. */
export interface Subscriber {
  id: number;
  status: string;
  expireAt: Date | string;
  telegramId: number | null;
}

interface Deps {
  db: Db;
  kick: KickFn;
}

/**
 * Tells each of `rows` not told of its bracket and expiry yet, then records `(user, bracket, expiry)`
 * for them; returns the ones told now. Told before recorded: a failure between the two tells them
 * again on the next try, where the notifications' dedupe keys stop the repeat (recorded first, a
 * failure in between would have told nobody, ever).
 */
async function tellOnce(
  db: Db,
  rows: { user: Subscriber; bracket: string }[],
  tell: (fresh: { user: Subscriber; bracket: string }[]) => Promise<unknown>,
) {
  if (!rows.length) return [];
  const t = subscriptionRemindersTable;
  const key = (id: number, bracket: string, expireAt: Date | string) => `${id}:${bracket}:${new Date(expireAt).getTime()}`;
  const told = await db
    .select({ id: t.panelUserId, bracket: t.bracket, expireAt: t.expireAt })
    .from(t)
    .where(
      inArray(
        t.panelUserId,
        rows.map((r) => r.user.id),
      ),
    );
  const done = new Set(told.map((r) => key(r.id, r.bracket, r.expireAt)));
  const fresh = rows.filter((r) => !done.has(key(r.user.id, r.bracket, r.user.expireAt)));
  if (!fresh.length) return [];
  await tell(fresh);
  await db
    .insert(t)
    .values(fresh.map((r) => ({ panelUserId: r.user.id, bracket: r.bracket, expireAt: new Date(r.user.expireAt) })))
    .onConflictDoNothing();
  return fresh;
}

/** Language codes of the bot's users by Telegram id. */
async function languages(db: Db, telegramIds: number[]): Promise<Map<number, string | null>> {
  if (!telegramIds.length) return new Map();
  const rows = await db
    .select({ id: usersTable.telegramId, lang: usersTable.languageCode })
    .from(usersTable)
    .where(inArray(usersTable.telegramId, telegramIds));
  return new Map(rows.map((r) => [r.id, r.lang]));
}

/**
 * Queues one notification per row, to its user in the user's language (the languages read in one
 * statement). Returns the ids queued now (a dedupe key queued before is skipped).
 */
async function notifyEach<T extends { user: Subscriber }>(
  { db, kick }: Deps,
  rows: T[],
  message: (row: T, lang: string | null | undefined) => Omit<NewNotification, 'telegramId'>,
): Promise<string[]> {
  const langs = await languages(
    db,
    rows.map((r) => r.user.telegramId as number),
  );
  return notify(
    { db, kick },
    rows.map((row) => ({ telegramId: row.user.telegramId as number, ...message(row, langs.get(row.user.telegramId as number)) })),
  );
}

const day = (d: Date | string) => new Date(d).toISOString().slice(0, 16).replace('T', ' ');

/** Reminds active users whose expiry falls in a bracket they were not reminded of. Users without telegram_id are skipped. */
export async function remindExpiring({ db, kick }: Deps, users: Subscriber[], now: number): Promise<number> {
  const due = users.flatMap((user) => {
    const bracket = user.telegramId !== null && user.status === 'ACTIVE' ? bracketFor(new Date(user.expireAt).getTime() - now) : undefined;
    return bracket ? [{ user, bracket }] : [];
  });
  const fresh = await tellOnce(db, due, (rows) =>
    notifyEach({ db, kick }, rows, ({ user, bracket }, lang) => ({
      type: 'expiry_reminder',
      text: renderTemplate('expiry-reminder', lang, {
        left: translator(negotiateLocale(lang ?? undefined))(`bracket-${bracket}`),
        expires: `${day(user.expireAt)} UTC`,
      }),
      dedupeKey: `reminder:${user.id}:${bracket}:${new Date(user.expireAt).toISOString()}`,
    })),
  );
  return fresh.length;
}

/**
 * Who was told what is kept this long past the expiry it was about (then `cleanup_cache` prunes it);
 * only expiries younger than `TELL_EXPIRED_WITHIN_MS` are told, so a pruned record is never told again.
 */
export const REMINDER_RETENTION_DAYS = 30;
/** A subscription that ended longer ago than this is not announced any more (7 days). */
const TELL_EXPIRED_WITHIN_MS = 7 * 24 * HOUR;

/** Tells users whose subscription ended in the last 7 days, once per expiry, with renewal instructions. */
export async function tellExpired({ db, kick }: Deps, users: Subscriber[], now = Date.now()): Promise<number> {
  const ended = users
    .filter((u) => u.telegramId !== null && now - new Date(u.expireAt).getTime() <= TELL_EXPIRED_WITHIN_MS)
    .map((user) => ({ user, bracket: 'expired' }));
  const fresh = await tellOnce(db, ended, (rows) =>
    notifyEach({ db, kick }, rows, ({ user }, lang) => ({
      type: 'subscription_expired',
      text: renderTemplate('subscription-expired', lang, {}),
      dedupeKey: `expired:${user.id}:${new Date(user.expireAt).toISOString()}`,
    })),
  );
  return fresh.length;
}

/**
 * Tells every user whose traffic was just reset, once per month (`traffic-reset:<user>:<YYYY-MM>`).
 * Returns how many were queued now.
 */
export async function tellTrafficReset({ db, kick }: Deps, users: Subscriber[], month: string): Promise<number> {
  const told = users.filter((u) => u.telegramId !== null).map((user) => ({ user }));
  const ids = await notifyEach({ db, kick }, told, ({ user }, lang) => ({
    type: 'traffic_reset',
    text: renderTemplate('traffic-reset', lang, { month }),
    dedupeKey: `traffic-reset:${user.id}:${month}`,
  }));
  return ids.length;
}

/** Whether a user was told about a bracket of an expiry (tests, diagnostics). */
export async function wasTold(db: Db, panelUserId: number, bracket: string): Promise<boolean> {
  const [row] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(subscriptionRemindersTable)
    .where(and(eq(subscriptionRemindersTable.panelUserId, panelUserId), eq(subscriptionRemindersTable.bracket, bracket)));
  return (row?.n ?? 0) > 0;
}
