import { and, eq, isNotNull, lt, max, ne, sql } from 'drizzle-orm';
import type { Db } from '../core/db';
import {
  auditLogsTable,
  type Payment,
  panelUserLeasesTable,
  paymentDailyStatsTable,
  paymentsTable,
  webhookLogsTable,
} from './payments.schema';

export async function findPaymentByInvoice(db: Db, invoiceId: number): Promise<Payment | undefined> {
  const [row] = await db
    .select()
    .from(paymentsTable)
    .where(and(eq(paymentsTable.provider, 'cryptobot'), eq(paymentsTable.invoiceId, invoiceId)));
  return row;
}

/** Takes the lease on a panel user's expiry for `ms`; false while another holder's lease runs. */
export async function leasePanelUser(db: Db, panelUserId: number, holder: string, ms: number): Promise<boolean> {
  const l = panelUserLeasesTable;
  const until = sql`now() + ${`${ms} milliseconds`}::interval`;
  const rows = await db
    .insert(l)
    .values({ panelUserId, holder, until })
    .onConflictDoUpdate({ target: l.panelUserId, set: { holder, until }, setWhere: lt(l.until, sql`now()`) })
    .returning({ holder: l.holder });
  return rows[0]?.holder === holder;
}

export async function releasePanelUser(db: Db, panelUserId: number, holder: string): Promise<void> {
  await db
    .delete(panelUserLeasesTable)
    .where(and(eq(panelUserLeasesTable.panelUserId, panelUserId), eq(panelUserLeasesTable.holder, holder)));
}

/**
 * The latest expiry another payment of the panel user has fixed and may not have written yet (it is
 * not completed): a new target starts from it, so the two add up whatever order their writes land in.
 */
export async function pendingTargetOf(db: Db, panelUserId: number, except: string): Promise<Date | null> {
  const p = paymentsTable;
  const [row] = await db
    .select({ latest: max(p.targetExpireAt) })
    .from(p)
    .where(and(eq(p.remnawaveUserId, panelUserId), ne(p.id, except), isNotNull(p.targetExpireAt), ne(p.status, 'completed')));
  return row?.latest ?? null;
}

/** Fixes the expiry a payment sets on its first try; later tries get the same value back. */
export async function fixTargetExpiry(db: Db, id: string, target: Date): Promise<Date> {
  const [row] = await db
    .update(paymentsTable)
    .set({ targetExpireAt: sql`coalesce(${paymentsTable.targetExpireAt}, ${target.toISOString()}::timestamptz)` })
    .where(eq(paymentsTable.id, id))
    .returning({ target: paymentsTable.targetExpireAt });
  return row?.target ?? target;
}

/** The error of a payment expired unpaid: the only `failed` a paid invoice may still complete. */
const EXPIRED_UNPAID = 'not paid within 24 hours';

/** Whether a payment may still be completed: pending, or expired by us although its invoice may be paid. */
export function completable(p: Pick<Payment, 'status' | 'error'>): boolean {
  return p.status === 'pending' || (p.status === 'failed' && p.error === EXPIRED_UNPAID);
}

/**
 * Moves a completable payment on (to `failed` only from `pending`); false when another run got there
 * first. A payment expired unpaid whose invoice turns out paid is completed: money received wins.
 */
export async function finishPayment(
  db: Db,
  id: string,
  status: 'completed' | 'failed' | 'mismatch',
  opts: { error?: string; audit?: { action: string; details: Record<string, unknown> } } = {},
): Promise<boolean> {
  const p = paymentsTable;
  const from =
    status === 'failed'
      ? sql`${p.status} = 'pending'`
      : sql`(${p.status} = 'pending' or (${p.status} = 'failed' and ${p.error} = ${EXPIRED_UNPAID}))`;
  // The audit row in the same statement: a payment is never finished without it, nor audited twice.
  const result = await db.execute<{ n: number }>(sql`
    with done as (
      update ${p} set status = ${status}, error = ${opts.error ?? null},
             completed_at = ${status === 'completed' ? sql`now()` : null}
       where ${p.id} = ${id} and ${from}
      returning id),
    logged as (
      insert into ${auditLogsTable} (action, entity, entity_id, details)
      select ${opts.audit?.action ?? ''}, 'payment', id::text, ${JSON.stringify(opts.audit?.details ?? {})}::jsonb
        from done where ${opts.audit !== undefined})
    select count(*)::int as n from done`);
  return (result.rows[0]?.n ?? 0) > 0;
}

export async function audit(
  db: Db,
  action: string,
  entity: string,
  entityId: string | number,
  details: Record<string, unknown>,
): Promise<void> {
  await db.insert(auditLogsTable).values({ action, entity, entityId: String(entityId), details });
}

/** Logs a valid webhook once per event; returns its row and whether it was new. */
export async function logWebhook(db: Db, provider: string, eventKey: string, body: unknown) {
  const [inserted] = await db
    .insert(webhookLogsTable)
    .values({ provider, eventKey, body })
    .onConflictDoNothing({ target: [webhookLogsTable.provider, webhookLogsTable.eventKey] })
    .returning();
  if (inserted) return { log: inserted, fresh: true };
  const [existing] = await db
    .select()
    .from(webhookLogsTable)
    .where(and(eq(webhookLogsTable.provider, provider), eq(webhookLogsTable.eventKey, eventKey)));
  return { log: existing, fresh: false };
}

export async function markWebhookProcessed(db: Db, provider: string, eventKey: string, error?: string): Promise<void> {
  await db
    .update(webhookLogsTable)
    .set(error ? { error, attempts: sql`${webhookLogsTable.attempts} + 1` } : { processedAt: sql`now()`, error: null })
    .where(and(eq(webhookLogsTable.provider, provider), eq(webhookLogsTable.eventKey, eventKey)));
}

/** Every pending payment, oldest first (the set stays small: a payment is pending for 24 h at most). */
export async function pendingPayments(db: Db): Promise<Payment[]> {
  return db.select().from(paymentsTable).where(eq(paymentsTable.status, 'pending')).orderBy(paymentsTable.createdAt);
}

/** Marks a payment expired unpaid if it is still pending; returns it when this call did. */
export async function expirePayment(db: Db, id: string): Promise<Payment | undefined> {
  const [row] = await db
    .update(paymentsTable)
    .set({ status: 'failed', error: EXPIRED_UNPAID })
    .where(and(eq(paymentsTable.id, id), eq(paymentsTable.status, 'pending')))
    .returning();
  return row;
}

/** Valid, unprocessed webhooks of the last 24 h (older than 5 min, fewer than 3 retries), each retry counted. */
export async function claimWebhookRetries(db: Db): Promise<{ event_key: string; attempts: number }[]> {
  const w = webhookLogsTable;
  const result = await db.execute<{ event_key: string; attempts: number }>(sql`
    update ${w} set attempts = attempts + 1
    where is_valid and processed_at is null and attempts < 3 and provider = 'cryptobot'
      and created_at > now() - interval '24 hours' and created_at < now() - interval '5 minutes'
    returning event_key, attempts`);
  return result.rows;
}

/** Revenue of a period: amounts per asset, overall and by plan and by payment method (provider). */
export interface Revenue {
  count: number;
  revenue: Record<string, number>;
  by_plan: Record<string, { count: number; revenue: Record<string, number> }>;
  by_method: Record<string, { count: number; revenue: Record<string, number> }>;
}

/** The completed payments of [from, to), from `payments` itself (never from an aggregate that may not exist yet). */
export async function revenueBetween(db: Db, from: Date, to: Date): Promise<Revenue> {
  const result = await db.execute<{ plan: string; provider: string; asset: string; n: number; total: string }>(sql`
    select plan, provider, asset, count(*)::int as n, sum(amount::numeric)::text as total from ${paymentsTable}
    where status = 'completed' and completed_at >= ${from.toISOString()}::timestamptz and completed_at < ${to.toISOString()}::timestamptz
    group by plan, provider, asset order by plan, provider, asset`);
  const out: Revenue = { count: 0, revenue: {}, by_plan: {}, by_method: {} };
  const add = (into: Record<string, number>, asset: string, amount: number) => {
    into[asset] = Math.round(((into[asset] ?? 0) + amount) * 1e8) / 1e8;
  };
  for (const r of result.rows) {
    const amount = Number(r.total);
    out.count += r.n;
    add(out.revenue, r.asset, amount);
    for (const [group, name] of [
      [out.by_plan, r.plan],
      [out.by_method, r.provider],
    ] as const) {
      const g = group[name] ?? { count: 0, revenue: {} };
      g.count += r.n;
      add(g.revenue, r.asset, amount);
      group[name] = g;
    }
  }
  return out;
}

/** Aggregates one UTC day's completed payments into `payment_daily_stats` (replacing a previous run's row). */
export async function storeDailyStats(db: Db, day: string): Promise<unknown> {
  const p = paymentsTable;
  const result = await db.execute<{ stats: unknown }>(sql`
    with done as (
      select * from ${p} where status = 'completed'
        and completed_at >= ${day}::date and completed_at < ${day}::date + 1),
    stats as (
      select jsonb_build_object(
        'count', (select count(*) from done),
        'revenue', coalesce((select jsonb_object_agg(asset, total) from (select asset, sum(amount::numeric) as total from done group by asset) a), '{}'),
        'average', coalesce((select jsonb_object_agg(asset, avg) from (select asset, round(avg(amount::numeric), 8) as avg from done group by asset) a), '{}'),
        'by_plan', coalesce((select jsonb_object_agg(plan, n) from (select plan, count(*) as n from done group by plan) a), '{}'),
        'by_provider', coalesce((select jsonb_object_agg(provider, n) from (select provider, count(*) as n from done group by provider) a), '{}')
      ) as stats)
    insert into ${paymentDailyStatsTable} (day, stats) select ${day}::date, stats from stats
    on conflict (day) do update set stats = excluded.stats, created_at = now()
    returning stats`);
  return result.rows[0]?.stats;
}
