import { and, asc, desc, eq, gt, inArray, isNull, lt, sql } from 'drizzle-orm';
import type { Snapshot } from '../../durable-objects/campaign/campaign.engine';
import type { Db } from '../core/db';
import { usersTable } from '../users/users.schema';
import { type Audience, type Campaign, type CampaignMessage, campaignMessagesTable, campaignsTable } from './campaigns.schema';
import type { Variant } from './content';
import type { CampaignStatus } from './lifecycle';

export interface NewCampaign {
  id: string;
  title: string;
  audience: Audience;
  ratePerSecond: number;
  paidBroadcast: boolean;
  scheduledAt: Date | null;
  variants: Variant[];
}

/** Stores a draft and its message variants in one transaction (one request). */
export async function insertCampaign(db: Db, c: NewCampaign): Promise<void> {
  const { variants, ...row } = c;
  await db.batch([
    db.insert(campaignsTable).values({ ...row, status: 'draft' }),
    db.insert(campaignMessagesTable).values(variants.map((v) => toRow(c.id, v))),
  ]);
}

/** Replaces the variant of `variant.language_code` (or adds it), in one transaction. */
export async function replaceVariant(db: Db, campaignId: string, variant: Variant): Promise<void> {
  const language = variant.language_code;
  await db.batch([
    db
      .delete(campaignMessagesTable)
      .where(
        and(
          eq(campaignMessagesTable.campaignId, campaignId),
          language === null ? isNull(campaignMessagesTable.languageCode) : eq(campaignMessagesTable.languageCode, language),
        ),
      ),
    db.insert(campaignMessagesTable).values(toRow(campaignId, variant)),
  ]);
}

/** The campaign's row (its description and the read model of its state). */
export async function findCampaign(db: Db, id: string): Promise<Campaign | undefined> {
  const [campaign] = await db.select().from(campaignsTable).where(eq(campaignsTable.id, id));
  return campaign;
}

/**
 * The variants stored with the row: what the object is initialised with when a create was cut short
 * before it. Once the object exists it owns the content; these rows are its read model.
 */
export async function storedVariants(db: Db, id: string): Promise<Variant[]> {
  const rows = await db.select().from(campaignMessagesTable).where(eq(campaignMessagesTable.campaignId, id));
  return rows.map(fromRow);
}

/** Newest first; `cursor` is the last id of the previous page (ids are time-ordered UUIDv7). */
export async function listCampaigns(db: Db, q: { status?: CampaignStatus; cursor?: string; limit: number }): Promise<Campaign[]> {
  return db
    .select()
    .from(campaignsTable)
    .where(and(q.status ? eq(campaignsTable.status, q.status) : undefined, q.cursor ? lt(campaignsTable.id, q.cursor) : undefined))
    .orderBy(desc(campaignsTable.id))
    .limit(q.limit);
}

/** Mirrors the live state of a campaign's object into its row. */
export async function syncCampaignRow(db: Db, s: Snapshot): Promise<void> {
  await db
    .update(campaignsTable)
    .set({
      status: s.status,
      total: s.total,
      sent: s.sent,
      failed: s.failed,
      blocked: s.blocked,
      unknown: s.unknown,
      startedAt: s.started_at ? new Date(s.started_at) : null,
      finishedAt: s.finished_at ? new Date(s.finished_at) : null,
      updatedAt: sql`now()`,
    })
    .where(eq(campaignsTable.id, s.id));
}

function audienceFilter(audience: Audience) {
  return and(
    eq(usersTable.isActive, true),
    audience.language_codes?.length ? inArray(usersTable.languageCode, audience.language_codes) : undefined,
  );
}

export async function audienceCount(db: Db, audience: Audience): Promise<number> {
  const [row] = await db.select({ n: sql<number>`count(*)::int` }).from(usersTable).where(audienceFilter(audience));
  return row?.n ?? 0;
}

/** The next `limit` active users of the audience after `cursor` (users.id), by keyset: no OFFSET. */
export async function audiencePage(db: Db, audience: Audience, cursor: number, limit: number) {
  return db
    .select({ id: usersTable.id, telegramId: usersTable.telegramId, languageCode: usersTable.languageCode })
    .from(usersTable)
    .where(and(audienceFilter(audience), gt(usersTable.id, cursor)))
    .orderBy(asc(usersTable.id))
    .limit(limit);
}

function toRow(campaignId: string, v: Variant): typeof campaignMessagesTable.$inferInsert {
  const base = { campaignId, languageCode: v.language_code, kind: v.kind };
  if (v.kind === 'text') return { ...base, text: v.text, parseMode: v.parse_mode ?? null, entities: v.entities ?? null };
  if (v.kind === 'copy') return { ...base, copyFromChatId: v.from_chat_id, copyMessageId: v.message_id };
  return { ...base, fileId: v.file_id, caption: v.caption ?? null, parseMode: v.parse_mode ?? null, entities: v.caption_entities ?? null };
}

function fromRow(r: CampaignMessage): Variant {
  const mode = (r.parseMode ?? undefined) as 'HTML' | 'MarkdownV2' | undefined;
  const entities = (r.entities ?? undefined) as Extract<Variant, { kind: 'text' }>['entities'];
  if (r.kind === 'text') return { kind: 'text', language_code: r.languageCode, text: r.text ?? '', parse_mode: mode, entities };
  if (r.kind === 'copy')
    return { kind: 'copy', language_code: r.languageCode, from_chat_id: r.copyFromChatId ?? 0, message_id: r.copyMessageId ?? 0 };
  return {
    kind: r.kind,
    language_code: r.languageCode,
    file_id: r.fileId ?? '',
    caption: r.caption ?? undefined,
    parse_mode: mode,
    caption_entities: entities,
  };
}
