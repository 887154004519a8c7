import { EVENTS } from '@remnawave/backend-contract';
import { z } from 'zod';
import type { NodeSeed, RemnawaveStandInOptions, State, UserSeed } from './state.ts';
import { configure, listNodes, listUsers, reset, SeedError, upsertNodes, upsertUsers } from './state.ts';
import { sendStateWebhook } from './webhook.ts';

/** A control API answer: HTTP status and a JSON body. */
export interface ControlReply {
  status: number;
  body: unknown;
}

const ConfigPatch = z.strictObject({
  token: z.string().min(1).optional(),
  latencyMs: z.number().min(0).optional(),
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
export function currentOptions(state: State): Partial<RemnawaveStandInOptions> {
  const s = state.settings;
  return { ...s, failNext: s.failNext ? { ...s.failNext } : null };
}

function parseJson(body: Buffer): { value: unknown } | undefined {
  if (body.length === 0) return { value: {} };
  try {
    return { value: JSON.parse(body.toString('utf8')) };
  } catch {
    return undefined;
  }
}

function bad(error: unknown): ControlReply {
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
 * Answers `/__control/*` (no auth):
 * - `GET users` → `{ users }` with statuses refreshed; `POST users` (seed | seed[] | `{ users }`) → `{ users }` as stored
 * - `GET nodes` → `{ nodes }`; `POST nodes` (seed | seed[] | `{ nodes }`) → `{ nodes }`
 * - `GET config` → the options; `POST config` (token, latencyMs, failNext, down, expiryLagMs, subPublicDomain, requireProxyHeaders, deleteAfterListing, refuseIds) → `{ ok, options }`
 * - `GET calls?since_seq=&method=&path=` → `{ calls }`
 * - `POST webhooks` `{ url, secret, event, userId | nodeUuid, meta? }` → the delivery `{ status, body, payload, signature }`
 * - `POST reset` → `{ ok: true }`
 */
export async function handleControl(
  state: State,
  method: string,
  path: string,
  query: URLSearchParams,
  body: Buffer,
): Promise<ControlReply> {
  const route = `${method} ${path.replace(/\/$/, '')}`;
  const json = parseJson(body);
  if (!json) return { status: 400, body: { error: 'body must be JSON' } };
  try {
    switch (route) {
      case 'GET /__control/users':
        return { status: 200, body: { users: listUsers(state).sort((a, b) => a.id - b.id) } };
      case 'POST /__control/users':
        return { status: 200, body: { users: upsertUsers(state, seedList('users', json.value) as UserSeed[]) } };
      case 'GET /__control/nodes':
        return { status: 200, body: { nodes: listNodes(state) } };
      case 'POST /__control/nodes':
        return { status: 200, body: { nodes: upsertNodes(state, seedList('nodes', json.value) as NodeSeed[]) } };
      case 'GET /__control/config':
        return { status: 200, body: currentOptions(state) };
      case 'POST /__control/config':
        configure(state, ConfigPatch.parse(json.value));
        return { status: 200, body: { ok: true, options: currentOptions(state) } };
      case 'GET /__control/calls': {
        const since = Number(query.get('since_seq') ?? '0') || 0;
        const only = { method: query.get('method'), path: query.get('path') };
        const calls = state.calls.filter(
          (c) => c.seq > since && (!only.method || c.method === only.method.toUpperCase()) && (!only.path || c.path === only.path),
        );
        return { status: 200, body: { calls } };
      }
      case 'POST /__control/webhooks': {
        const req = WebhookRequest.parse(json.value);
        const subject = req.userId ?? req.nodeUuid;
        if (subject === undefined) return { status: 400, body: { error: 'give userId or nodeUuid' } };
        try {
          return { status: 200, body: await sendStateWebhook(state, req.url, req.secret, req.event, subject, req.meta ?? null) };
        } catch (e) {
          return { status: 404, body: { error: e instanceof Error ? e.message : String(e) } };
        }
      }
      case 'POST /__control/reset':
        reset(state);
        return { status: 200, body: { ok: true } };
      default:
        return { status: 404, body: { error: `no control route ${route}` } };
    }
  } catch (e) {
    if (e instanceof z.ZodError || e instanceof SeedError) return bad(e);
    throw e;
  }
}
