import { inArray, sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { notificationQueueTable } from '../notifications/notifications.schema';
import { auditLogsTable, webhookLogsTable } from '../payments/payments.schema';
import { uniqueTelegramId, withTestDb } from '../testing/db';
import { kickOverHttp, runWithStatus } from '../testing/runs';

const run = async (task: string) => (await runWithStatus(await kickOverHttp(task), 'succeeded')).result as { removed: number };
const daysAgo = (d: number) => sql`now() - make_interval(days => ${d})`;

describe('cleanup', () => {
  it('removes exactly the audit rows past 90 days', async () => {
    const rows = await withTestDb((db) =>
      db
        .insert(auditLogsTable)
        .values([
          { action: 'test', entity: 'cleanup', entityId: 'old', createdAt: daysAgo(91) },
          { action: 'test', entity: 'cleanup', entityId: 'kept', createdAt: daysAgo(89) },
        ])
        .returning({ id: auditLogsTable.id }),
    );
    expect((await run('cleanup_audit_logs')).removed).toBe(1);
    const left = await withTestDb((db) =>
      db
        .select()
        .from(auditLogsTable)
        .where(
          inArray(
            auditLogsTable.id,
            rows.map((r) => r.id),
          ),
        ),
    );
    expect(left.map((r) => r.entityId)).toEqual(['kept']);
  });

  it('removes processed webhook logs past 30 days, in batches of 1,000, and keeps one never processed', async () => {
    const tag = crypto.randomUUID();
    await withTestDb((db) =>
      db.execute(sql`insert into webhook_logs (provider, event_key, body, created_at, processed_at)
        select 'test', ${tag} || ':' || g, '{}'::jsonb, now() - interval '31 days', now() - interval '31 days' from generate_series(1, 1500) g
        union all select 'test', ${tag} || ':kept', '{}'::jsonb, now() - interval '29 days', now() - interval '29 days'
        union all select 'test', ${tag} || ':unprocessed', '{}'::jsonb, now() - interval '31 days', null`),
    );
    expect((await run('cleanup_webhook_logs')).removed).toBe(1500);
    const left = await withTestDb((db) =>
      db.execute<{ event_key: string }>(sql`select event_key from ${webhookLogsTable} where event_key like ${`${tag}:%`} order by 1`),
    );
    // A webhook never processed is the evidence of a payment or an event that did not go through.
    expect(left.rows.map((r) => r.event_key)).toEqual([`${tag}:kept`, `${tag}:unprocessed`]);
  });

  it('removes sent and failed notifications older than 7 days, never pending ones', async () => {
    const chat = uniqueTelegramId();
    const rows = await withTestDb((db) =>
      db
        .insert(notificationQueueTable)
        .values([
          { telegramId: chat, type: 'old-sent', text: 'x', status: 'sent', createdAt: daysAgo(8) },
          { telegramId: chat, type: 'old-failed', text: 'x', status: 'failed', createdAt: daysAgo(8) },
          {
            telegramId: chat,
            type: 'old-pending',
            text: 'x',
            status: 'pending',
            createdAt: daysAgo(8),
            scheduledAt: sql`now() + interval '1 day'`,
          },
          { telegramId: chat, type: 'recent-sent', text: 'x', status: 'sent', createdAt: daysAgo(6) },
        ])
        .returning({ id: notificationQueueTable.id }),
    );
    await run('cleanup_notifications');
    const left = await withTestDb((db) =>
      db
        .select()
        .from(notificationQueueTable)
        .where(
          inArray(
            notificationQueueTable.id,
            rows.map((r) => r.id),
          ),
        ),
    );
    expect(left.map((r) => r.type).sort()).toEqual(['old-pending', 'recent-sent']);
  });
});
