import type { CampaignObject } from '../../durable-objects/campaign/campaign.do';
import type { Snapshot } from '../../durable-objects/campaign/campaign.engine';
import type { Db } from '../core/db';
import { AppError } from '../core/errors';
import { findCampaign } from './campaigns.repo';
import type { Campaign } from './campaigns.schema';
import type { Variant } from './content';

/** The object of campaign `id`, created from its row if it does not exist yet (a create cut short). */
export async function campaignObject(
  env: Env,
  db: Db,
  id: string,
): Promise<{ stub: DurableObjectStub<CampaignObject>; snapshot: Snapshot }> {
  const stub = env.CAMPAIGN.get(env.CAMPAIGN.idFromName(id));
  const snapshot = await stub.snapshot();
  if (snapshot) return { stub, snapshot };
  const found = await findCampaign(db, id);
  if (!found) throw new AppError(404, 'not_found', 'no such campaign');
  return { stub, snapshot: await stub.init(setupOf(found.campaign, found.variants)) };
}

export function setupOf(c: Campaign, variants: Variant[]) {
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
