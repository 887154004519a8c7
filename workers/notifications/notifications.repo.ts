import { sql } from 'drizzle-orm';
import { v7 as uuidv7 } from 'uuid';
import type { Db } from '../core/db';
import { taskRunsTable } from '../tasks/tasks.schema';
import { usersTable } from '../users/users.schema';
import { dispatchFlagsTable, type NotificationStatus, notificationBatchesTable, notificationQueueTable } from './notifications.schema';

export interface NewNotification {
  telegramId: number;
  type: string;
  text: string;
  parseMode?: 'HTML' | 'MarkdownV2' | null;
  scheduledAt?: Date;
  dedupeKey?: string;
}

/** The dispatch flag of the notification queue (see `dispatchFlagsTable`). */
const DISPATCH = 'notifications';

/**
 * Queues notifications in one statement; a dedupe key already queued is skipped. Returns the new ids,
 * and whether a `process_notifications` run should be kicked: true only for the insert that set the
 * dispatch flag, so a burst of inserts kicks one run, not one each.
 */
export async function insertNotifications(
  db: Db,
  rows: NewNotification[],
): Promise<{ ids: string[]; scheduledAt: string[]; kick: boolean }> {
  if (!rows.length) return { ids: [], scheduledAt: [], kick: false };
  const q = notificationQueueTable;
  const values = sql.join(
    rows.map(
      (r) =>
        sql`(${uuidv7()}::uuid, ${r.telegramId}::bigint, ${r.type}::text, ${r.text}::text, ${r.parseMode === undefined ? 'HTML' : r.parseMode}::text,
             coalesce(${r.scheduledAt?.toISOString() ?? null}::timestamptz, now()), ${r.dedupeKey ?? null}::text)`,
    ),
    sql`, `,
  );
  const result = await db.execute<{ ids: string[] | null; scheduled: string[] | null; kick: boolean }>(sql`
    with inserted as (
      insert into ${q} (id, telegram_id, type, text, parse_mode, scheduled_at, dedupe_key)
      values ${values}
      on conflict (dedupe_key) do nothing
      returning id, scheduled_at),
    flag as (
      insert into ${dispatchFlagsTable} (name) select ${DISPATCH} where exists (select 1 from inserted)
      on conflict (name) do nothing
      returning name)
    select (select json_agg(id) from inserted) as ids, (select json_agg(scheduled_at) from inserted) as scheduled,
           exists (select 1 from flag) as kick`);
  const row = result.rows[0];
  return { ids: row?.ids ?? [], scheduledAt: row?.scheduled ?? [], kick: row?.kick ?? false };
}

/**
 * The same message to many users, in one statement: the given ids, or every active user. The text is
 * stored once, on the batch (`notification_batches`, keyed by the bulk run's id); each row's dedupe
 * key is `<batch>:<telegram id>`, so running it again queues nothing twice. Returns how many were
 * queued now, and whether to kick a run (see `insertNotifications`).
 */
export async function insertBulkNotifications(
  db: Db,
  batchId: string,
  audience: number[] | 'all_active',
  message: { type: string; text: string; parseMode: string | null },
): Promise<{ queued: number; kick: boolean }> {
  const ids =
    audience === 'all_active'
      ? sql`select telegram_id from ${usersTable} where ${usersTable.isActive}`
      : sql`select distinct unnest(${`{${audience.join(',')}}`}::bigint[])`;
  const result = await db.execute<{ n: number; kick: boolean }>(sql`
    with inserted as (
      insert into ${notificationQueueTable} (id, telegram_id, type, text, parse_mode, dedupe_key, batch_id)
      select gen_random_uuid(), t.telegram_id, ${message.type}, null, ${message.parseMode},
             ${batchId} || ':' || t.telegram_id, ${batchId}::uuid
      from (${ids}) as t(telegram_id)
      on conflict (dedupe_key) do nothing
      returning 1),
    batch as (
      insert into ${notificationBatchesTable} (id, type, text, total)
      select ${batchId}::uuid, ${message.type}, ${message.text}, count(*)::int from inserted
      on conflict (id) do update set total = ${notificationBatchesTable}.total + excluded.total
      returning total),
    flag as (
      insert into ${dispatchFlagsTable} (name) select ${DISPATCH} where exists (select 1 from inserted)
      on conflict (name) do nothing
      returning name)
    select (select count(*)::int from inserted) as n, exists (select 1 from flag) as kick, (select total from batch) as total`);
  return { queued: result.rows[0]?.n ?? 0, kick: result.rows[0]?.kick ?? false };
}

export type Claimed = {
  id: string;
  batch_id: string | null;
  telegram_id: number;
  type: string;
  text: string;
  parse_mode: string | null;
  attempts: number;
};

/** How long a claimed notification is held by its sender before another run may take it. */
const CLAIM_SECONDS = 120;

/**
 * The statement parts that claim up to `limit` due notifications: pending, scheduled by now, not held
 * by another run (rows another transaction holds are skipped, not waited for). Each claim counts a
 * try; claiming clears the dispatch flag, so whatever is inserted from now on kicks a run of its own.
 */
function claimParts(limit: number) {
  const q = notificationQueueTable;
  const b = notificationBatchesTable;
  return {
    // Only a claim clears the flag: a settle that claims nothing leaves it for the insert that set it.
    ctes: sql`cleared as (delete from ${dispatchFlagsTable} where name = ${DISPATCH} and ${limit}::int > 0),
    claimed as (
      update ${q} set attempts = attempts + 1, claimed_until = now() + make_interval(secs => ${CLAIM_SECONDS})
      where id in (
        select id from ${q}
        where status = 'pending' and scheduled_at <= now() and (claimed_until is null or claimed_until < now())
        order by scheduled_at
        limit ${limit}
        for update skip locked)
      returning id, batch_id, telegram_id, type, text, parse_mode, attempts)`,
    rows: sql`select c.id, c.batch_id, c.telegram_id::float8 as telegram_id, c.type, coalesce(c.text, ${b.text}) as text, c.parse_mode, c.attempts
      from claimed c left join ${b} on ${b.id} = c.batch_id`,
  };
}

/** Claims up to `limit` due notifications in one statement (see `claimParts`). */
export async function claimDue(db: Db, limit: number): Promise<Claimed[]> {
  const claim = claimParts(limit);
  return (await db.execute<Claimed>(sql`with ${claim.ctes} ${claim.rows}`)).rows;
}

export interface Settled {
  id: string;
  status: NotificationStatus;
  messageId?: number;
  error?: string;
  /** For `pending`: when to try again. */
  retryAt?: Date;
  /** The try did not count (the bot was waiting out a 429). */
  uncount?: boolean;
}

/**
 * Records the outcomes of claimed notifications, moves the counters of the bulk sends they belong to
 * and their runs' progress (`{done, total, sent, failed, unknown, duration_seconds}`) — counted by
 * what changed, never by recounting a batch — and claims up to `claim` more, all in one statement:
 * one round trip per batch. The progress that says a bulk send is done also carries its result: its
 * 10 commonest failures with their counts (`errors`, the seed's broadcast result), so no reader ever
 * sees it done without them. Returns the rows claimed.
 */
export async function settleAndClaim(db: Db, outcomes: Settled[], claim: number): Promise<Claimed[]> {
  const q = notificationQueueTable;
  const b = notificationBatchesTable;
  const values = outcomes.length
    ? sql.join(
        outcomes.map(
          (o) =>
            sql`(${o.id}::uuid, ${o.status}::text, ${o.messageId ?? null}::bigint, ${o.error ?? null}::text, ${o.retryAt?.toISOString() ?? null}::timestamptz, ${o.uncount ? 1 : 0}::int)`,
        ),
        sql`, `,
      )
    : sql`(null::uuid, null::text, null::bigint, null::text, null::timestamptz, 0)`;
  const next = claimParts(claim);
  const result = await db.execute<{ claimed: Claimed[] | null }>(sql`
    with settled as (
      update ${q} as n set
        status = v.status,
        sent_at = case when v.status = 'sent' then now() else n.sent_at end,
        message_id = coalesce(v.message_id, n.message_id),
        error_message = v.error,
        scheduled_at = coalesce(v.retry_at, n.scheduled_at),
        attempts = n.attempts - v.uncount,
        claimed_until = null
      from (values ${values}) as v(id, status, message_id, error, retry_at, uncount)
      where n.id = v.id and n.status = 'pending'
      returning n.batch_id, n.status, n.error_message),
    moved as (
      select batch_id, (count(*) filter (where status = 'sent'))::int as sent, (count(*) filter (where status = 'failed'))::int as failed,
             (count(*) filter (where status = 'unknown'))::int as unknown
      from settled where batch_id is not null and status <> 'pending' group by batch_id),
    batches as (
      update ${b} set sent = ${b.sent} + m.sent, failed = ${b.failed} + m.failed, unknown = ${b.unknown} + m.unknown
      from moved m where ${b.id} = m.batch_id
      returning ${b.id} as id, ${b.total} as total, ${b.sent} as sent, ${b.failed} as failed, ${b.unknown} as unknown),
    progress as (
      update ${taskRunsTable} as t set
        -- The run finished when it queued the rows; its result lives as long after the last send as
        -- it was to live after the run (or cleanup would take it while its messages still go out).
        expires_at = case when t.finished_at is null then t.expires_at
                          else greatest(t.expires_at, now() + (t.expires_at - t.finished_at)) end,
        progress = jsonb_build_object(
        'done', c.sent + c.failed + c.unknown, 'total', c.total, 'sent', c.sent, 'failed', c.failed, 'unknown', c.unknown,
        'duration_seconds', round(extract(epoch from now() - t.created_at)::numeric, 1),
        'note', c.sent || ' sent, ' || c.failed || ' failed, ' || c.unknown || ' unknown of ' || c.total)
        -- Read only for a batch this statement finishes. A statement does not see its own updates:
        -- its failures are those failed before it and those it settles now.
        || case when c.sent + c.failed + c.unknown >= c.total then jsonb_build_object('errors', coalesce((
             select jsonb_agg(jsonb_build_object('error', e.error_message, 'count', e.n) order by e.n desc, e.error_message)
             from (select error_message, count(*)::int as n
                   from (select error_message from ${q} where batch_id = c.id and status = 'failed'
                         union all
                         select error_message from settled where batch_id = c.id and status = 'failed') f
                   group by error_message order by n desc, error_message limit 10) e), '[]'::jsonb))
           else '{}'::jsonb end
      from batches c where t.id = c.id),
    ${next.ctes},
    next_rows as (${next.rows})
    select (select json_agg(next_rows) from next_rows) as claimed`);
  return result.rows[0]?.claimed ?? [];
}
