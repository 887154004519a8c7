import { randomBytes, randomUUID } from 'node:crypto';
import { ExtendedUsersSchema, NodesSchema } from '@remnawave/backend-contract';
import type { z } from 'zod';
import type { Latency } from '../standin/latency.ts';

/** A user exactly as the panel sends it (`ExtendedUsersSchema` input: dates are ISO strings). */
export type PanelUser = z.input<typeof ExtendedUsersSchema>;
/** A node exactly as the panel sends it (`NodesSchema` input). */
export type PanelNode = z.input<typeof NodesSchema>;
export type UserStatus = PanelUser['status'];

/** Any subset of a user's fields; the rest get realistic defaults (an existing user with the same id keeps its own). */
export type UserSeed = Partial<Omit<PanelUser, 'userTraffic'>> & { userTraffic?: Partial<PanelUser['userTraffic']> };
/** Any subset of a node's fields; the rest get realistic defaults (an existing node with the same uuid keeps its own). */
export type NodeSeed = Partial<PanelNode>;

/** The API token accepted unless `token` is set. */
export const REMNAWAVE_STAND_IN_TOKEN = 'remnawave-stand-in-api-token';

/** Statuses `failNext` can answer with: 500 from the panel, 429 from its throttler, 502/503 from the reverse proxy. */
export type FailStatus = 500 | 502 | 503 | 429;

export interface RemnawaveStandInOptions {
  /** Port to listen on; 0 picks a free one. Default 0. Ignored by `configure`. */
  port: number;
  /** Interface to bind. Default '127.0.0.1'. Ignored by `configure`. */
  host: string;
  /** The only bearer token accepted. Default {@link REMNAWAVE_STAND_IN_TOKEN}. */
  token: string;
  /** Delay before every API answer, in ms; a range picks uniformly per request. Default 0. */
  latencyMs: Latency;
  /** The next `count` API calls answer `status` instead, before routing and auth. Default none. */
  failNext: { status: FailStatus; count: number } | null;
  /** Every API call answers the reverse proxy's 503 until cleared. Default false. */
  down: boolean;
  /**
   * How long past `expireAt` a user still reads ACTIVE: the real panel marks users EXPIRED every 30 s,
   * so some are briefly active past their expiry. Default 0 (marked at once).
   */
  expiryLagMs: number;
  /** Users present at start and after `reset`. Default none. Ignored by `configure`. */
  users: UserSeed[];
  /** Nodes present at start and after `reset`. Default none. Ignored by `configure`. */
  nodes: NodeSeed[];
  /** Base of `subscriptionUrl` (the panel's SUB_PUBLIC_DOMAIN). Default 'https://sub.stand-in.test'. */
  subPublicDomain: string;
  /** Drop the connection unless `X-Forwarded-For` and `X-Forwarded-Proto: https` are sent, as the production panel does. Default false. */
  requireProxyHeaders: boolean;
  /**
   * Users (ids) deleted right after the next users listing has been answered, as another admin would
   * delete them: whoever acts on that listing finds them gone (404). Default none.
   */
  deleteAfterListing: number[];
  /**
   * Users (ids) the bulk routes refuse: a bulk request naming any of them answers 400 (`A400`) and
   * changes nobody, as a panel refuses a batch with one bad entry. Default none.
   */
  refuseIds: number[];
}

/** One request under /api (or anything outside /__control/), whatever its outcome. */
export interface Call {
  /** Starts at 1 and never restarts, so `since_seq` polling survives `reset`. */
  seq: number;
  method: string;
  /** Path without the query string. */
  path: string;
  query: Record<string, string>;
  /** The JSON body as sent, or null without one. */
  body: unknown;
  status: number;
  /** Epoch ms. */
  at: number;
}

type Settings = Omit<RemnawaveStandInOptions, 'port' | 'host' | 'users' | 'nodes'>;

export interface State {
  settings: Settings;
  seeds: { users: UserSeed[]; nodes: NodeSeed[] };
  users: Map<number, PanelUser>;
  nodes: Map<string, PanelNode>;
  calls: Call[];
  seq: number;
}

/** Thrown when a seed does not make a user or node that passes the contract's schema. */
export class SeedError extends Error {
  readonly issues: unknown[];
  constructor(what: string, issues: unknown[]) {
    super(`invalid ${what}: ${JSON.stringify(issues)}`);
    this.issues = issues;
  }
}

const DAY_MS = 86_400_000;
/** The squad every fresh panel has; new users join it. */
export const DEFAULT_SQUAD = { uuid: '7b4b1c9e-3d52-4f0a-9a43-2f6f0d9b1e11', name: 'Default-Squad' };
/** The panel's nanoid alphabet for shortUuid and passwords. */
const ALPHABET = '0123456789ABCDEFGHJKLMNPQRSTUVWXYZ_abcdefghjkmnopqrstuvwxyz-';
const COUNTRIES = ['NL', 'DE', 'FI', 'US', 'GB', 'SE'];

function nanoid(length: number): string {
  return Array.from(randomBytes(length), (b) => ALPHABET[b % ALPHABET.length]).join('');
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

export function createState(opts: Partial<RemnawaveStandInOptions>): State {
  const state: State = {
    settings: {
      token: REMNAWAVE_STAND_IN_TOKEN,
      latencyMs: 0,
      failNext: null,
      down: false,
      expiryLagMs: 0,
      subPublicDomain: 'https://sub.stand-in.test',
      requireProxyHeaders: false,
      deleteAfterListing: [],
      refuseIds: [],
    },
    seeds: { users: opts.users ?? [], nodes: opts.nodes ?? [] },
    users: new Map(),
    nodes: new Map(),
    calls: [],
    seq: 0,
  };
  configure(state, opts);
  reset(state);
  return state;
}

/** Applies the runtime settings of a partial option set; `port`, `host`, `users` and `nodes` are ignored. */
export function configure(state: State, patch: Partial<RemnawaveStandInOptions>): void {
  const s = state.settings;
  if (patch.token !== undefined) s.token = patch.token;
  if (patch.latencyMs !== undefined) s.latencyMs = typeof patch.latencyMs === 'number' ? Math.max(0, patch.latencyMs) : patch.latencyMs;
  if ('failNext' in patch) s.failNext = patch.failNext && patch.failNext.count > 0 ? { ...patch.failNext } : null;
  if (patch.down !== undefined) s.down = patch.down;
  if (patch.expiryLagMs !== undefined) s.expiryLagMs = Math.max(0, patch.expiryLagMs);
  if (patch.subPublicDomain !== undefined) s.subPublicDomain = patch.subPublicDomain.replace(/\/+$/, '');
  if (patch.requireProxyHeaders !== undefined) s.requireProxyHeaders = patch.requireProxyHeaders;
  if (patch.deleteAfterListing !== undefined) s.deleteAfterListing = [...patch.deleteAfterListing];
  if (patch.refuseIds !== undefined) s.refuseIds = [...patch.refuseIds];
}

/** After a users listing: the users set to vanish (`deleteAfterListing`) are deleted, once. */
export function afterListing(state: State): void {
  for (const id of state.settings.deleteAfterListing) state.users.delete(id);
  state.settings.deleteAfterListing = [];
}

/** Clears calls, `failNext` and `down`, and puts users and nodes back to the seeds given at start. */
export function reset(state: State): void {
  state.calls.length = 0;
  state.settings.failNext = null;
  state.settings.deleteAfterListing = [];
  state.settings.refuseIds = [];
  state.settings.down = false;
  state.users.clear();
  state.nodes.clear();
  upsertUsers(state, state.seeds.users);
  upsertNodes(state, state.seeds.nodes);
}

/** Adds users, or merges the given fields into the user with the same id. Throws {@link SeedError}, changing nothing. */
export function upsertUsers(state: State, seeds: UserSeed[]): PanelUser[] {
  const now = Date.now();
  let nextId = Math.max(0, ...state.users.keys()) + 1;
  const built = seeds.map((seed) => {
    const existing = seed.id === undefined ? undefined : state.users.get(seed.id);
    const id = seed.id ?? nextId;
    nextId = Math.max(nextId, id + 1);
    const base = existing ?? defaultUser(state, id, now);
    const user: PanelUser = { ...base, ...seed, userTraffic: { ...base.userTraffic, ...seed.userTraffic } };
    if (seed.subscriptionUrl === undefined) user.subscriptionUrl = `${state.settings.subPublicDomain}/${user.shortUuid}`;
    const parsed = ExtendedUsersSchema.safeParse(user);
    if (!parsed.success) throw new SeedError(`user ${id}`, parsed.error.issues);
    return user;
  });
  for (const user of built) state.users.set(user.id, user);
  return built;
}

/** Adds nodes, or merges the given fields into the node with the same uuid. Throws {@link SeedError}, changing nothing. */
export function upsertNodes(state: State, seeds: NodeSeed[]): PanelNode[] {
  const now = Date.now();
  let nextId = Math.max(0, ...[...state.nodes.values()].map((n) => n.id)) + 1;
  const built = seeds.map((seed) => {
    const existing = seed.uuid === undefined ? undefined : state.nodes.get(seed.uuid);
    const node: PanelNode = { ...(existing ?? defaultNode(nextId++, now)), ...seed };
    const parsed = NodesSchema.safeParse(node);
    if (!parsed.success) throw new SeedError(`node ${node.uuid}`, parsed.error.issues);
    return node;
  });
  for (const node of built) state.nodes.set(node.uuid, node);
  return built;
}

function defaultUser(state: State, id: number, now: number): PanelUser {
  const shortUuid = nanoid(16);
  return {
    id,
    shortUuid,
    username: `user_${id}`,
    status: 'ACTIVE',
    trafficLimitBytes: 0,
    trafficLimitStrategy: 'NO_RESET',
    expireAt: iso(now + 30 * DAY_MS),
    telegramId: null,
    email: null,
    description: null,
    tag: null,
    hwidDeviceLimit: null,
    externalSquadUuid: null,
    trojanPassword: nanoid(32),
    vlessUuid: randomUUID(),
    ssPassword: nanoid(32),
    lastTriggeredThreshold: 0,
    subRevokedAt: null,
    lastTrafficResetAt: null,
    createdAt: iso(now),
    updatedAt: iso(now),
    subscriptionUrl: `${state.settings.subPublicDomain}/${shortUuid}`,
    activeInternalSquads: [{ ...DEFAULT_SQUAD }],
    userTraffic: { usedTrafficBytes: 0, lifetimeUsedTrafficBytes: 0, onlineAt: null, firstConnectedAt: null, lastConnectedNodeUuid: null },
  };
}

function defaultNode(id: number, now: number): PanelNode {
  return {
    uuid: randomUUID(),
    id,
    name: `Node ${id}`,
    address: `node${id}.stand-in.test`,
    port: 2222,
    proxyUrl: null,
    isConnected: true,
    isDisabled: false,
    isConnecting: false,
    lastStatusChange: iso(now),
    lastStatusMessage: null,
    isTrafficTrackingActive: false,
    trafficResetDay: null,
    trafficLimitBytes: null,
    trafficUsedBytes: 0,
    notifyPercent: null,
    viewPosition: id,
    countryCode: COUNTRIES[(id - 1) % COUNTRIES.length] ?? 'NL',
    consumptionMultiplier: 1,
    nodeConsumptionMultiplier: 1,
    tags: [],
    integrationUuids: [],
    ips: [],
    createdAt: iso(now),
    updatedAt: iso(now),
    configProfile: { activeConfigProfileUuid: null, activeInbounds: [] },
    providerUuid: null,
    provider: null,
    activePluginUuid: null,
    system: null,
    versions: { xray: '25.12.8', node: '2.3.0' },
    xrayUptime: 3600,
    usersOnline: 0,
    note: null,
  };
}

/**
 * What the panel's 30-second jobs do, applied lazily before every read: ACTIVE or LIMITED users past
 * `expireAt` become EXPIRED; ACTIVE users with a limit that their used traffic has reached become LIMITED.
 */
export function refreshStatuses(state: State, now = Date.now()): void {
  for (const user of state.users.values()) {
    let status = user.status;
    if ((status === 'ACTIVE' || status === 'LIMITED') && Date.parse(user.expireAt) < now - state.settings.expiryLagMs) status = 'EXPIRED';
    else if (status === 'ACTIVE' && user.trafficLimitBytes !== 0 && user.userTraffic.usedTrafficBytes >= user.trafficLimitBytes) {
      status = 'LIMITED';
    }
    if (status !== user.status) {
      user.status = status;
      user.updatedAt = iso(now);
    }
  }
}

export function listUsers(state: State): PanelUser[] {
  refreshStatuses(state);
  return [...state.users.values()];
}

export function listNodes(state: State): PanelNode[] {
  return [...state.nodes.values()].sort((a, b) => a.viewPosition - b.viewPosition);
}
