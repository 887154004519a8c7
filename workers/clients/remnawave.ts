import {
  BulkDeleteUsersCommand,
  BulkResetTrafficUsersCommand,
  BulkUpdateUsersCommand,
  DisableUserCommand,
  GetNodesCommand,
  GetRemnawaveHealthCommand,
  GetStatsCommand,
  GetUserByIdCommand,
  GetUsersCommand,
  UpdateUserCommand,
} from '@remnawave/backend-contract';
import type { z } from 'zod';
import type { Config } from '../core/config';
import { breakerOpenMs, type ClientOptions, callService, describe, ServiceError } from './http';

type PanelUser = z.infer<typeof GetUserByIdCommand.ResponseSchema>['response'];

/**
 * A panel user as the jobs over every user need one. The contract's whole object (traffic, links,
 * squads, ...) is ~1 KB parsed: at 100,000 users the full list held ~107 MB, and a Worker has 128.
 */
interface PanelUserSummary {
  id: number;
  status: string;
  expireAt: string;
  telegramId: number | null;
}
export type PanelNode = z.infer<typeof GetNodesCommand.ResponseSchema>['response'][number];

export interface Remnawave {
  getUser(id: number): Promise<PanelUser>;
  /** `PATCH /api/users`: sets fields of one user (an absolute expiry is safe to repeat). */
  updateUser(body: z.input<typeof UpdateUserCommand.RequestBodySchema>): Promise<PanelUser>;
  /** Every user, 1,000 per request (`GET /api/users?start&size`), each cut to its summary as its page arrives. */
  allUsers(): Promise<PanelUserSummary[]>;
  disableUser(id: number): Promise<PanelUser>;
  /** Resets the traffic of up to 500 users in one call. */
  bulkResetTraffic(ids: number[]): Promise<void>;
  /** Sets fields (e.g. `status`) of up to 500 users in one call. */
  bulkUpdate(ids: number[], fields: z.input<typeof BulkUpdateUsersCommand.RequestBodySchema>['fields']): Promise<void>;
  bulkDelete(ids: number[]): Promise<void>;
  nodes(): Promise<PanelNode[]>;
  /** `GET /api/system/stats`: users by status, online, nodes, memory. */
  stats(): Promise<z.infer<typeof GetStatsCommand.ResponseSchema>['response']>;
  /** `GET /api/system/health`: resolves when the panel answers. */
  health(): Promise<unknown>;
}

/** Most ids one bulk route takes. */
export const PANEL_BULK_LIMIT = 500;
const PAGE = 1000;
const accepted = { parse: () => undefined };

/**
 * The Remnawave panel at `REMNAWAVE_URL`, by the routes and zod schemas of
 * `@remnawave/backend-contract`: bearer token, the forwarded headers a direct call to the panel's
 * port needs, 4 s timeouts, retries on 5xx/429 and a circuit breaker; `opts.signal` (a task run's)
 * ends every call when the run's time is up. A 4xx throws a `ServiceError`
 * with the panel's `errorCode` (A063: no such user).
 */
export function remnawave(
  config: Pick<Config, 'REMNAWAVE_URL' | 'REMNAWAVE_API_TOKEN'> & Partial<Pick<Config, 'BREAKER_OPEN_SECONDS'>>,
  opts: ClientOptions = {},
): Remnawave {
  if (!config.REMNAWAVE_URL) throw new ServiceError('remnawave', 0, 'not_configured', 'REMNAWAVE_URL is not set');
  const root = config.REMNAWAVE_URL.replace(/\/$/, '');
  // The contract carries its own zod: its schemas are used through `parse` only.
  const call = async <T>(method: 'GET' | 'PATCH' | 'POST', path: string, schema: { parse(v: unknown): T }, body?: unknown): Promise<T> => {
    const res = await callService({
      service: 'remnawave',
      url: `${root}${path}`,
      method,
      headers: { authorization: `Bearer ${config.REMNAWAVE_API_TOKEN}`, 'x-forwarded-for': '127.0.0.1', 'x-forwarded-proto': 'https' },
      body,
      signal: opts.signal,
      breakerOpenMs: breakerOpenMs(config),
    });
    if (res.status >= 400) {
      const code = String((res.body as { errorCode?: string } | null)?.errorCode ?? `http_${res.status}`);
      throw new ServiceError('remnawave', res.status, code, describe(res.body));
    }
    return schema.parse(res.body);
  };
  // Bulk routes answer 202/204 with an empty body and skip ids they do not know.
  const bulk = async (path: string, body: { userIds: number[]; fields?: unknown }) => {
    if (body.userIds.length > PANEL_BULK_LIMIT) throw new Error(`at most ${PANEL_BULK_LIMIT} ids per bulk call`);
    await call('POST', path, accepted, body);
  };
  return {
    getUser: async (id) => (await call('GET', GetUserByIdCommand.url(String(id)), GetUserByIdCommand.ResponseSchema)).response,
    updateUser: async (body) => (await call('PATCH', UpdateUserCommand.url, UpdateUserCommand.ResponseSchema, body)).response,
    allUsers: async () => {
      const users: PanelUserSummary[] = [];
      for (let start = 0; ; start += PAGE) {
        const page = (await call('GET', `${GetUsersCommand.url}?start=${start}&size=${PAGE}`, GetUsersCommand.ResponseSchema)).response;
        for (const u of page.users as PanelUser[])
          users.push({ id: u.id, status: u.status, expireAt: new Date(u.expireAt).toISOString(), telegramId: u.telegramId ?? null });
        if (page.users.length < PAGE || users.length >= page.total) return users;
      }
    },
    disableUser: async (id) => (await call('POST', DisableUserCommand.url(String(id)), DisableUserCommand.ResponseSchema)).response,
    nodes: async () => (await call('GET', GetNodesCommand.url, GetNodesCommand.ResponseSchema)).response as PanelNode[],
    stats: async () => (await call('GET', GetStatsCommand.url, GetStatsCommand.ResponseSchema)).response,
    health: async () => (await call('GET', GetRemnawaveHealthCommand.url, GetRemnawaveHealthCommand.ResponseSchema)).response,
    bulkResetTraffic: (ids) => bulk(BulkResetTrafficUsersCommand.url, { userIds: ids }),
    bulkUpdate: (ids, fields) => bulk(BulkUpdateUsersCommand.url, { userIds: ids, fields }),
    bulkDelete: (ids) => bulk(BulkDeleteUsersCommand.url, { userIds: ids }),
  };
}
