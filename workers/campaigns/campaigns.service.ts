import { v7 as uuidv7 } from 'uuid';
import type { CampaignObject } from '../../durable-objects/campaign/campaign.do';
import type { Snapshot } from '../../durable-objects/campaign/campaign.engine';
import type { Config } from '../core/config';
import type { Db } from '../core/db';
import { DomainError } from '../core/errors';
import { Outbound } from '../telegram/outbound';
import { findCampaign, insertCampaign, replaceVariant, storedVariants } from './campaigns.repo';
import type { Audience, Campaign } from './campaigns.schema';
import { contentProblems, sendCall, type Variant } from './content';

export interface CampaignInput {
  title: string;
  variants: Variant[];
  audience: Audience;
  paid: boolean;
  ratePerSecond?: number;
  scheduledAt: Date | null;
}

/**
 * Creates a draft: content checked (400 naming the field), rate within the bot's limit for its kind,
 * the row and its variants stored, its object initialised.
 */
export async function createCampaign(env: Env, db: Db, config: Config, input: CampaignInput) {
  const [problem] = contentProblems(input.variants);
  if (problem) throw DomainError.invalid(problem.field, problem.message);
  const cap = input.paid ? config.TELEGRAM_PAID_RATE_LIMIT : config.TELEGRAM_RATE_LIMIT;
  const rate = input.ratePerSecond ?? cap;
  if (rate > cap) throw DomainError.invalid('rate_per_second', `at most ${cap} messages/s${input.paid ? '' : ' without paid_broadcast'}`);
  const id = uuidv7();
  const row = {
    id,
    title: input.title,
    audience: input.audience,
    ratePerSecond: rate,
    paidBroadcast: input.paid,
    scheduledAt: input.scheduledAt,
  };
  await insertCampaign(db, { ...row, variants: input.variants });
  const { snapshot } = await campaignObject(env, db, id);
  return campaignJson({ title: input.title, audience: input.audience, createdAt: new Date() }, snapshot);
}

/**
 * Adds or replaces the variant of one language of a draft: the object merges and checks it (400 naming
 * the field; 409 once the campaign has left draft), then the rows mirror it.
 */
export async function putVariant(env: Env, db: Db, id: string, variant: Variant): Promise<Variant[]> {
  const { stub } = await campaignObject(env, db, id);
  const revised = await stub.revise(variant);
  if (!revised.ok && revised.field) throw DomainError.invalid(revised.field, revised.reason);
  if (!revised.ok) throw new DomainError('conflict', 'invalid_transition', revised.reason);
  await replaceVariant(db, id, variant);
  return revised.variants;
}

/** A campaign with its content as its object holds it (the one owner of the content once it exists); 404 if none. */
export async function openCampaign(env: Env, db: Db, id: string) {
  const campaign = await findCampaign(db, id);
  if (!campaign) throw DomainError.notFound('campaign');
  const { stub, snapshot } = await campaignObject(env, db, id, campaign);
  const { variants } = await stub.content();
  return { campaign, stub, snapshot, variants };
}

/**
 * Sends one variant to one chat, as a preview: a send of the bot like any other, through the outbound
 * path (a slot of the bot-wide budget, ahead of broadcasts). 422 when Telegram refuses it, 503 when
 * the bot waits out a long 429 or Telegram did not answer (it may have been delivered: not repeated).
 */
export async function sendPreview(env: Env, config: Config, chatId: number, variant: Variant): Promise<number> {
  const [method, params] = sendCall(chatId, variant, false);
  const outcome = await new Outbound(config, env).send(method, params);
  switch (outcome.kind) {
    case 'ok':
      return (outcome.result as { message_id?: number } | undefined)?.message_id ?? 0;
    case 'blocked':
    case 'permanent':
      throw new DomainError('refused', 'telegram_refused', outcome.reason);
    case 'retry_after':
      throw new DomainError('unavailable', 'telegram_limited', 'Telegram asked the bot to wait; try again later');
    default:
      throw new DomainError(
        'unavailable',
        'telegram_unavailable',
        `Telegram did not answer (${outcome.reason}); the preview may have been delivered`,
      );
  }
}

/** The object of campaign `id`, created from its row if it does not exist yet (a create cut short). */
export async function campaignObject(
  env: Env,
  db: Db,
  id: string,
  row?: Campaign,
): Promise<{ stub: DurableObjectStub<CampaignObject>; snapshot: Snapshot }> {
  const stub = env.CAMPAIGN.get(env.CAMPAIGN.idFromName(id));
  const snapshot = await stub.snapshot();
  if (snapshot) return { stub, snapshot };
  const found = row ?? (await findCampaign(db, id));
  if (!found) throw DomainError.notFound('campaign');
  return { stub, snapshot: await stub.init(setupOf(found, await storedVariants(db, id))) };
}

function setupOf(c: Campaign, variants: Variant[]) {
  return {
    id: c.id,
    ratePerSecond: c.ratePerSecond,
    paid: c.paidBroadcast,
    audience: c.audience,
    scheduledFor: c.scheduledAt?.getTime() ?? null,
    variants,
  };
}

/** The campaign as the API shows it: the row's description with the object's live state. */
export function campaignJson(c: Pick<Campaign, 'title' | 'audience' | 'createdAt'>, s: Snapshot) {
  return { ...s, title: c.title, audience: c.audience, created_at: c.createdAt.toISOString() };
}
