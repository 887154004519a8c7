import { sql } from 'drizzle-orm';
import { bigint, boolean, check, index, integer, jsonb, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { campaignStatuses } from './lifecycle';

export interface Audience {
  /** Only users whose language_code is one of these; everyone active when absent. */
  language_codes?: string[];
}

/**
 * A broadcast. Its live state (status, counters) is owned by its Durable Object; this row is a read
 * model the object writes (every transition, and the counters every 3 s while it runs), for lists,
 * reports and metrics.
 */
export const campaignsTable = pgTable(
  'campaigns',
  {
    id: uuid('id').primaryKey(),
    title: text('title').notNull(),
    status: text('status', { enum: campaignStatuses }).notNull().default('draft'),
    audience: jsonb('audience').$type<Audience>().notNull().default({}),
    ratePerSecond: integer('rate_per_second').notNull(),
    paidBroadcast: boolean('paid_broadcast').notNull().default(false),
    scheduledAt: timestamp('scheduled_at', { withTimezone: true }),
    startedAt: timestamp('started_at', { withTimezone: true }),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
    total: integer('total').notNull().default(0),
    sent: integer('sent').notNull().default(0),
    failed: integer('failed').notNull().default(0),
    blocked: integer('blocked').notNull().default(0),
    unknown: integer('unknown').notNull().default(0),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index('campaigns_status_idx').on(t.status, t.id),
    // The lifecycle's status list, as SQL (the same text migration 0000 wrote).
    check('campaigns_status_check', sql`${t.status} in (${sql.raw(campaignStatuses.map((s) => `'${s}'`).join(', '))})`),
  ],
);

export type Campaign = typeof campaignsTable.$inferSelect;

export const messageKinds = ['text', 'copy', 'photo', 'video', 'document', 'animation'] as const;
export type MessageKind = (typeof messageKinds)[number];

/** One language variant of a campaign's message; `language_code` null is the default variant. */
export const campaignMessagesTable = pgTable(
  'campaign_messages',
  {
    id: uuid('id').primaryKey().default(sql`gen_random_uuid()`),
    campaignId: uuid('campaign_id')
      .notNull()
      .references(() => campaignsTable.id, { onDelete: 'cascade' }),
    languageCode: text('language_code'),
    kind: text('kind', { enum: messageKinds }).notNull(),
    text: text('text'),
    parseMode: text('parse_mode'),
    entities: jsonb('entities'),
    fileId: text('file_id'),
    caption: text('caption'),
    copyFromChatId: bigint('copy_from_chat_id', { mode: 'number' }),
    copyMessageId: integer('copy_message_id'),
  },
  (t) => [uniqueIndex('campaign_messages_language_idx').on(t.campaignId, sql`coalesce(${t.languageCode}, '')`)],
);

export type CampaignMessage = typeof campaignMessagesTable.$inferSelect;
