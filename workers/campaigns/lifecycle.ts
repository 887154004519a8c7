/**
 * A campaign's lifecycle, declared once: its statuses, its actions and which action each status
 * allows. The object applies it; the API, the bot card and the console show what it allows. Pure.
 *
 *   draft ──start──▶ scheduled ──(alarm)──▶ running ◀──resume── paused
 *     │                 │                     │ ──pause──────────▶ │
 *     │                 └──cancel──┐          ├──(all sent)──▶ completed
 *     └──────cancel────────────────┴─────────▶ cancelled ◀──cancel─┘
 */
export const campaignStatuses = ['draft', 'scheduled', 'running', 'paused', 'completed', 'cancelled'] as const;
export type CampaignStatus = (typeof campaignStatuses)[number];
export const campaignActions = ['start', 'pause', 'resume', 'cancel'] as const;
export type Action = (typeof campaignActions)[number];

export type Transition = { ok: true; status: CampaignStatus } | { ok: false; reason: string };

const transitions: Record<
  Action,
  Partial<Record<CampaignStatus, CampaignStatus | ((scheduledFor: number | null, now: number) => CampaignStatus)>>
> = {
  start: { draft: (at, now) => (at !== null && at > now ? 'scheduled' : 'running'), scheduled: 'running' },
  pause: { running: 'paused' },
  resume: { paused: 'running' },
  cancel: { draft: 'cancelled', scheduled: 'cancelled', running: 'cancelled', paused: 'cancelled' },
};

export function transition(status: CampaignStatus, action: Action, scheduledFor: number | null, now: number): Transition {
  const next = transitions[action][status];
  if (next === undefined) return { ok: false, reason: `cannot ${action} a ${status} campaign` };
  return { ok: true, status: typeof next === 'function' ? next(scheduledFor, now) : next };
}

export function isFinished(status: CampaignStatus): boolean {
  return status === 'completed' || status === 'cancelled';
}

/** The statuses `action` applies to (the console marks each action's form with them). */
export function statusesAllowing(action: Action): CampaignStatus[] {
  return campaignStatuses.filter((status) => transitions[action][status] !== undefined);
}

/** The actions a campaign in `status` allows. */
export function allowedActions(status: CampaignStatus): Action[] {
  return campaignActions.filter((action) => transitions[action][status] !== undefined);
}
