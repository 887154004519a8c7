/**
 * A campaign's lifecycle. Pure: each function returns the next state or says why not.
 *
 *   draft ──start──▶ scheduled ──(alarm)──▶ running ◀──resume── paused
 *     │                 │                     │ ──pause──────────▶ │
 *     │                 └──cancel──┐          ├──(all sent)──▶ completed
 *     └──────cancel────────────────┴─────────▶ cancelled ◀──cancel─┘
 */
export type CampaignStatus = 'draft' | 'scheduled' | 'running' | 'paused' | 'completed' | 'cancelled';
export type Action = 'start' | 'pause' | 'resume' | 'cancel';

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
