import { EVENTS } from '@remnawave/backend-contract';
import { z } from 'zod';
import type { ControlReply, ControlRoutes } from '../standin/control.ts';
import { sinceSeq } from '../standin/control.ts';
import type { NodeSeed, RemnawaveStandInOptions, State, UserSeed } from './state.ts';
import { configure, listNodes, listUsers, reset, SeedError, upsertNodes, upsertUsers } from './state.ts';
import { sendStateWebhook } from './webhook.ts';

const ConfigPatch = z.strictObject({
  token: z.string().min(1).optional(),
  latencyMs: z.union([z.number().min(0), z.object({ min: z.number().min(0), max: z.number().min(0) })]).optional(),
  failNext: z
    .object({ status: z.union([z.literal(500), z.literal(502), z.literal(503), z.literal(429)]), count: z.int().min(0) })
    .nullable()
    .optional(),
  down: z.boolean().optional(),
  expiryLagMs: z.number().min(0).optional(),
  subPublicDomain: z.url().optional(),
  requireProxyHeaders: z.boolean().optional(),
  deleteAfterListing: z.array(z.int()).optional(),
  refuseIds: z.array(z.int()).optional(),
});

/** One seed, a list of seeds, or `{ users: [...] }` / `{ nodes: [...] }`. */
const Seeds = (key: 'users' | 'nodes') =>
  z.union([
    z.array(z.record(z.string(), z.unknown())),
    z.object({ [key]: z.array(z.record(z.string(), z.unknown())) }),
    z.record(z.string(), z.unknown()),
  ]);

const WebhookRequest = z.object({
  url: z.url(),
  secret: z.string().min(1),
  event: z.union([z.enum(EVENTS.USER), z.enum(EVENTS.NODE)]),
  userId: z.int().optional(),
  nodeUuid: z.string().optional(),
  meta: z.object({ notConnectedAfterHours: z.number().nullish(), expiration: z.number().nullish() }).nullable().optional(),
});

/** The current runtime options (for GET /__control/config). */
function currentOptions(state: State): Partial<RemnawaveStandInOptions> {
  const s = state.settings;
  return { ...s, failNext: s.failNext ? { ...s.failNext } : null };
}

/** A seed or a patch the schemas refuse: 400 with the issues. */
export function controlErrors(error: unknown): ControlReply | undefined {
  if (!(error instanceof z.ZodError || error instanceof SeedError)) return undefined;
  return {
    status: 400,
    body: {
      error: error instanceof z.ZodError ? z.prettifyError(error) : String(error),
      issues: error instanceof SeedError ? error.issues : undefined,
    },
  };
}

function seedList(key: 'users' | 'nodes', value: unknown): Array<Record<string, unknown>> {
  const seeds = Seeds(key).parse(value);
  if (Array.isArray(seeds)) return seeds;
  const list = seeds[key];
  return Array.isArray(list) ? (list as Array<Record<string, unknown>>) : [seeds];
}

/**
 * The control API under `/__control/`:
 * - `GET users` → `{ users }` with statuses refreshed; `POST users` (seed | seed[] | `{ users }`) → `{ users }` as stored
 * - `GET nodes` → `{ nodes }`; `POST nodes` (seed | seed[] | `{ nodes }`) → `{ nodes }`
 * - `GET config` → the options; `POST config` (token, latencyMs, failNext, down, expiryLagMs, subPublicDomain, requireProxyHeaders, deleteAfterListing, refuseIds) → `{ ok, options }`
 * - `GET calls?since_seq=&method=&path=` → `{ calls }`
 * - `POST webhooks` `{ url, secret, event, userId | nodeUuid, meta? }` → the delivery `{ status, body, payload, signature }`
 * - `POST reset` → `{ ok: true }`
 */
export function controlRoutes(state: State): ControlRoutes {
  return {
    'GET users': () => ({ status: 200, body: { users: listUsers(state).sort((a, b) => a.id - b.id) } }),
    'POST users': (req) => ({ status: 200, body: { users: upsertUsers(state, seedList('users', req.json()) as UserSeed[]) } }),
    'GET nodes': () => ({ status: 200, body: { nodes: listNodes(state) } }),
    'POST nodes': (req) => ({ status: 200, body: { nodes: upsertNodes(state, seedList('nodes', req.json()) as NodeSeed[]) } }),
    'GET config': () => ({ status: 200, body: currentOptions(state) }),
    'POST config': (req) => {
      configure(state, ConfigPatch.parse(req.json()));
      return { status: 200, body: { ok: true, options: currentOptions(state) } };
    },
    'GET calls': ({ query }) => {
      const since = sinceSeq(query);
      const only = { method: query.get('method'), path: query.get('path') };
      const calls = state.calls.filter(
        (c) => c.seq > since && (!only.method || c.method === only.method.toUpperCase()) && (!only.path || c.path === only.path),
      );
      return { status: 200, body: { calls } };
    },
    'POST webhooks': async (req) => {
      const hook = WebhookRequest.parse(req.json());
      const subject = hook.userId ?? hook.nodeUuid;
      if (subject === undefined) return { status: 400, body: { error: 'give userId or nodeUuid' } };
      try {
        return { status: 200, body: await sendStateWebhook(state, hook.url, hook.secret, hook.event, subject, hook.meta ?? null) };
      } catch (e) {
        return { status: 404, body: { error: e instanceof Error ? e.message : String(e) } };
      }
    },
    'POST reset': () => {
      reset(state);
      return { status: 200, body: { ok: true } };
    },
  };
}
