/**
 * The panel's user actions (UsersService in remnawave/backend), including its status rules, over the stand-in state.
 */
import { DEFAULT_SQUAD, iso, type PanelUser, type UserStatus } from './state.ts';

const DAY_MS = 86_400_000;

/** Fields PATCH /api/users and POST /api/users/bulk/update can change, as their schemas output them. */
export interface UserChanges {
  status?: UserStatus | undefined;
  trafficLimitBytes?: number | undefined;
  trafficLimitStrategy?: PanelUser['trafficLimitStrategy'] | undefined;
  expireAt?: Date | undefined;
  description?: string | null | undefined;
  tag?: string | null | undefined;
  telegramId?: number | null | undefined;
  email?: string | null | undefined;
  hwidDeviceLimit?: number | null | undefined;
  externalSquadUuid?: string | null | undefined;
  activeInternalSquads?: string[] | undefined;
}

/**
 * Applies an update like the panel: status moves only ACTIVE→DISABLED or non-ACTIVE→ACTIVE; raising (or
 * removing) the limit of a LIMITED user activates it; a new future `expireAt` activates an EXPIRED user.
 */
export function applyChanges(user: PanelUser, changes: UserChanges, now = Date.now()): void {
  const before = { status: user.status, limit: user.trafficLimitBytes, expireAt: user.expireAt };
  const { status, trafficLimitBytes, expireAt, activeInternalSquads, ...plain } = changes;
  for (const [key, value] of Object.entries(plain)) {
    if (value !== undefined) Object.assign(user, { [key]: value });
  }
  if (expireAt) user.expireAt = expireAt.toISOString();
  if (trafficLimitBytes !== undefined) {
    user.trafficLimitBytes = trafficLimitBytes;
    user.lastTriggeredThreshold = 0;
    if (before.status === 'LIMITED' && (trafficLimitBytes > before.limit || trafficLimitBytes === 0)) user.status = 'ACTIVE';
  }
  if (before.status !== 'ACTIVE' && status === 'ACTIVE') user.status = 'ACTIVE';
  if (before.status === 'ACTIVE' && status === 'DISABLED') user.status = 'DISABLED';
  if (before.status === 'EXPIRED' && expireAt && !status && user.expireAt !== before.expireAt && expireAt.getTime() > now) {
    user.status = 'ACTIVE';
  }
  if (activeInternalSquads) {
    user.activeInternalSquads = activeInternalSquads.map((uuid) =>
      uuid === DEFAULT_SQUAD.uuid ? { ...DEFAULT_SQUAD } : { uuid, name: `Squad-${uuid.slice(0, 8)}` },
    );
  }
  user.updatedAt = iso(now);
}

/** Zeroes used traffic; a LIMITED user becomes ACTIVE. */
export function resetTraffic(user: PanelUser, now = Date.now()): void {
  user.userTraffic.usedTrafficBytes = 0;
  user.lastTrafficResetAt = iso(now);
  user.lastTriggeredThreshold = 0;
  if (user.status === 'LIMITED') user.status = 'ACTIVE';
  user.updatedAt = iso(now);
}

/** POST /actions/extend: adds days to the later of `expireAt` and now; an EXPIRED user becomes ACTIVE. */
export function extendUser(user: PanelUser, days: number, now = Date.now()): void {
  user.expireAt = iso(Math.max(Date.parse(user.expireAt), now) + days * DAY_MS);
  if (user.status === 'EXPIRED') user.status = 'ACTIVE';
  user.updatedAt = iso(now);
}

/** Bulk extend: adds days to `expireAt` itself, then EXPIRED users whose date is now in the future become ACTIVE. */
export function bulkExtendUser(user: PanelUser, days: number, now = Date.now()): void {
  user.expireAt = iso(Date.parse(user.expireAt) + days * DAY_MS);
  if (user.status === 'EXPIRED' && Date.parse(user.expireAt) > now) user.status = 'ACTIVE';
  user.updatedAt = iso(now);
}

export function setStatus(user: PanelUser, status: UserStatus, now = Date.now()): void {
  user.status = status;
  user.updatedAt = iso(now);
}
