import { sql } from 'drizzle-orm';
import { v7 as uuidv7 } from 'uuid';
import type { Db } from '../core/db';
import { taskRunsTable } from '../tasks/tasks.schema';
import { usersTable } from '../users/users.schema';
import { type NotificationStatus, notificationQueueTable } from './notifications.schema';

export interface NewNotification {
  telegramId: number;
  type: string;
  text: string;
  parseMode?: 'HTML' | 'MarkdownV2' | null;
  scheduledAt?: Date;
  dedupeKey?: string;
}

/** Queues notifications in one statement; a dedupe key already queued is skipped. Returns the new ids. */
export async function insertNotifications(db: Db, rows: NewNotification[]): Promise<string[]> {
  if (!rows.length) return [];
  const inserted = await db
    .insert(notificationQueueTable)
    .values(
      rows.map((r) => ({
        id: uuidv7(),
        telegramId: r.telegramId,
        type: r.type,
        text: r.text,
        parseMode: r.parseMode === undefined ? 'HTML' : r.parseMode,
        scheduledAt: r.scheduledAt,
        dedupeKey: r.dedupeKey,
      })),
    )
    .onConflictDoNothing({ target: notificationQueueTable.dedupeKey })
    .returning({ id: notificationQueueTable.id });
  return inserted.map((r) => r.id);
}

/**
 * The same message to many users, in one statement: the given ids, or every active user. Each row's
 * dedupe key is `<batch>:<telegram id>`, so running it again queues nothing twice. Returns the count.
 */
export async function insertBulkNotifications(
  db: Db,
  batchId: string,
  audience: number[] | 'all_active',
  message: { type: string; text: string; parseMode: string | null },
): Promise<number> {
  const ids =
    audience === 'all_active'
      ? sql`select telegram_id from ${usersTable} where ${usersTable.isActive}`
      : sql`select distinct unnest(${`{${audience.join(',')}}`}::bigint[])`;
  const result = await db.execute<{ n: number }>(sql`
    with inserted as (
      insert into ${notificationQueueTable} (id, telegram_id, type, text, parse_mode, dedupe_key, batch_id)
      select gen_random_uuid(), t.telegram_id, ${message.type}, ${message.text}, ${message.parseMode},
             ${batchId} || ':' || t.telegram_id, ${batchId}::uuid
      from (${ids}) as t(telegram_id)
      on conflict (dedupe_key) do nothing
      returning 1
    )
    select count(*)::int as n from inserted`);
  return result.rows[0]?.n ?? 0;
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
export const CLAIM_SECONDS = 120;

/**
 * Claims up to `limit` due notifications in one statement: pending, scheduled by now, not held by
 * another run (rows another transaction holds are skipped, not waited for). Each claim counts a try.
 */
export async function claimDue(db: Db, limit: number): Promise<Claimed[]> {
  const q = notificationQueueTable;
  const result = await db.execute<Claimed>(sql`
    update ${q} set attempts = attempts + 1, claimed_until = now() + make_interval(secs => ${CLAIM_SECONDS})
    where id in (
      select id from ${q}
      where status = 'pending' and scheduled_at <= now() and (claimed_until is null or claimed_until < now())
      order by scheduled_at
      limit ${limit}
      for update skip locked)
    returning id, batch_id, telegram_id::float8 as telegram_id, type, text, parse_mode, attempts`);
  return result.rows;
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

/** Records the outcomes of claimed notifications in one statement. */
export async function settle(db: Db, outcomes: Settled[]): Promise<void> {
  if (!outcomes.length) return;
  const values = sql.join(
    outcomes.map(
      (o) =>
        sql`(${o.id}::uuid, ${o.status}::text, ${o.messageId ?? null}::bigint, ${o.error ?? null}::text, ${o.retryAt?.toISOString() ?? null}::timestamptz, ${o.uncount ? 1 : 0}::int)`,
    ),
    sql`, `,
  );
  const q = notificationQueueTable;
  await db.execute(sql`
    update ${q} as n set
      status = v.status,
      sent_at = case when v.status = 'sent' then now() else n.sent_at end,
      message_id = coalesce(v.message_id, n.message_id),
      error_message = v.error,
      scheduled_at = coalesce(v.retry_at, n.scheduled_at),
      attempts = n.attempts - v.uncount,
      claimed_until = null
    from (values ${values}) as v(id, status, message_id, error, retry_at, uncount)
    where n.id = v.id and n.status = 'pending'`);
}

/**
 * Writes the progress of the bulk sends these notifications belong to onto their task runs, in one
 * statement: `{done, total, sent, failed, unknown, errors, duration_seconds}` (the seed's broadcast
 * result): `errors` are the 10 commonest failures with their counts, `duration_seconds` the time since
 * the run was kicked, final once `done` reaches `total`.
 */
export async function recordBulkProgress(db: Db, batchIds: string[]): Promise<void> {
  if (!batchIds.length) return;
  const q = notificationQueueTable;
  await db.execute(sql`
    update ${taskRunsTable} as t set progress = jsonb_build_object(
      'done', c.sent + c.failed + c.unknown, 'total', c.total, 'sent', c.sent, 'failed', c.failed, 'unknown', c.unknown,
      'errors', coalesce((
        select jsonb_agg(jsonb_build_object('error', e.error_message, 'count', e.n) order by e.n desc, e.error_message)
        from (select error_message, count(*)::int as n from ${q}
              where batch_id = c.batch_id and status = 'failed' group by error_message order by n desc, error_message limit 10) e), '[]'::jsonb),
      'duration_seconds', round(extract(epoch from now() - t.created_at)::numeric, 1),
      'note', c.sent || ' sent, ' || c.failed || ' failed, ' || c.unknown || ' unknown of ' || c.total)
    from (
      select batch_id,
             count(*)::int as total,
             (count(*) filter (where status = 'sent'))::int as sent,
             (count(*) filter (where status = 'failed'))::int as failed,
             (count(*) filter (where status = 'unknown'))::int as unknown
      from ${q} where batch_id in (${sql.join(
        batchIds.map((id) => sql`${id}::uuid`),
        sql`, `,
      )}) group by batch_id) as c
    where t.id = c.batch_id`);
}
