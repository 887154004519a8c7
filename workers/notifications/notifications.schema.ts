import { sql } from 'drizzle-orm';
import { bigint, check, index, integer, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core';

/**
 * `unknown`: the send may have reached Telegram (a 5xx, a timeout, a lost connection) and is never
 * tried again: at most once.
 */
export const notificationStatuses = ['pending', 'sent', 'failed', 'unknown'] as const;
export type NotificationStatus = (typeof notificationStatuses)[number];

/**
 * Messages to users, sent by `process_notifications` through the bot-wide gate: dispatched right
 * after the insert, with a once-a-minute sweep as the safety net. A row is claimed (a lease in
 * `claimed_until`, `attempts + 1`) before its send and settled after it.
 */
export const notificationQueueTable = pgTable(
  'notification_queue',
  {
    id: uuid('id').primaryKey().default(sql`gen_random_uuid()`),
    telegramId: bigint('telegram_id', { mode: 'number' }).notNull(),
    type: text('type').notNull(),
    /** Null for a bulk send's rows: their text is their batch's, stored once. */
    text: text('text'),
    parseMode: text('parse_mode'),
    status: text('status', { enum: notificationStatuses }).notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    scheduledAt: timestamp('scheduled_at', { withTimezone: true }).notNull().defaultNow(),
    claimedUntil: timestamp('claimed_until', { withTimezone: true }),
    sentAt: timestamp('sent_at', { withTimezone: true }),
    messageId: bigint('message_id', { mode: 'number' }),
    errorMessage: text('error_message'),
    /** The same key is queued once (an event told twice, a bulk send retried). */
    dedupeKey: text('dedupe_key').unique(),
    /** The bulk send it belongs to (its task run id). */
    batchId: uuid('batch_id'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index('notification_queue_due_idx').on(t.scheduledAt).where(sql`${t.status} = 'pending'`),
    index('notification_queue_batch_idx').on(t.batchId, t.status),
    index('notification_queue_finished_idx').on(t.createdAt).where(sql`${t.status} <> 'pending'`),
    check('notification_queue_status_check', sql`${t.status} in ('pending', 'sent', 'failed', 'unknown')`),
  ],
);

export type Notification = typeof notificationQueueTable.$inferSelect;

/**
 * A bulk send (`bulk_notify`, its task run id): the text its rows share, stored once, and its counters,
 * moved by every settle, so progress never recounts the batch.
 */
export const notificationBatchesTable = pgTable('notification_batches', {
  id: uuid('id').primaryKey(),
  type: text('type').notNull(),
  text: text('text').notNull(),
  total: integer('total').notNull().default(0),
  sent: integer('sent').notNull().default(0),
  failed: integer('failed').notNull().default(0),
  unknown: integer('unknown').notNull().default(0),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});

/**
 * Set while a `process_notifications` run is queued and has not started: inserts find it set and kick
 * nothing more; the run clears it when it starts claiming, so a later insert kicks the next one.
 */
export const dispatchFlagsTable = pgTable('dispatch_flags', {
  name: text('name').primaryKey(),
  setAt: timestamp('set_at', { withTimezone: true }).notNull().defaultNow(),
});
