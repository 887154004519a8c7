/**
 * The panel routes the stand-in serves, one per contract command: paths, methods and request schemas come from
 * `@remnawave/backend-contract`, behaviour from the panel's UsersService and NodesService.
 */
import {
  BulkDeleteUsersCommand,
  BulkExtendExpirationDateCommand,
  BulkResetTrafficUsersCommand,
  BulkUpdateUsersCommand,
  DisableUserCommand,
  EnableUserCommand,
  ERRORS,
  ExtendUserCommand,
  GetBandwidthStatsCommand,
  GetNodeCommand,
  GetNodesCommand,
  GetRemnawaveHealthCommand,
  GetStatsCommand,
  GetStatsNodesUsageCommand,
  GetUserByIdCommand,
  GetUserByShortUuidCommand,
  GetUserByUsernameCommand,
  GetUsersCommand,
  GetUsersStreamCommand,
  ResetUserTrafficCommand,
  UpdateUserCommand,
} from '@remnawave/backend-contract';
import type { z } from 'zod';
import { afterListing, listNodes, listUsers, type PanelUser, refreshStatuses, type State } from './state.ts';
import { bandwidthStats, health, nodesUsage, systemStats } from './stats.ts';
import { applyChanges, bulkExtendUser, extendUser, resetTraffic, setStatus } from './users.ts';

/** An entry of the contract's ERRORS table. */
export interface ErrorDef {
  code: string;
  message: string;
  httpCode: number;
}

/** A handler's result: a status with an optional JSON body, a panel error, or the request schemas' issues. */
export type Outcome = { status: number; body?: unknown } | { error: ErrorDef } | { invalid: unknown[] };

/** The raw request parts a route validates: path parameters, query parameters and the JSON body. */
interface RawInput {
  params: Record<string, string>;
  query: Record<string, string>;
  body: unknown;
}

export interface Route {
  method: string;
  pattern: RegExp;
  run(state: State, raw: RawInput): Outcome;
}

interface Command {
  TSQ_url: string;
  endpointDetails: { REQUEST_METHOD: string };
}

interface Validator {
  safeParse(input: unknown): { success: boolean; data?: unknown; error?: { issues: unknown[] } };
}

type Parsed<C, K extends string> = C extends { [P in K]: infer S } ? z.output<S> : undefined;

interface Input<C> {
  params: Parsed<C, 'RequestParamSchema'>;
  query: Parsed<C, 'RequestQuerySchema'>;
  body: Parsed<C, 'RequestBodySchema'>;
}

const PARTS = [
  ['RequestParamSchema', 'params'],
  ['RequestQuerySchema', 'query'],
  ['RequestBodySchema', 'body'],
] as const;

/** A route for a contract command: validates each request part with the command's schema, then runs `handle`. */
function route<C extends Command>(command: C, handle: (state: State, input: Input<C>) => Outcome): Route {
  const path = command.TSQ_url.replace(/\/$/, '').replace(/:(\w+)/g, '(?<$1>[^/]+)');
  const schemas = command as unknown as Partial<Record<(typeof PARTS)[number][0], Validator>>;
  return {
    method: command.endpointDetails.REQUEST_METHOD.toUpperCase(),
    pattern: new RegExp(`^${path}/?$`),
    run(state, raw) {
      const input: Partial<Record<keyof RawInput, unknown>> = {};
      for (const [key, part] of PARTS) {
        const schema = schemas[key];
        if (!schema) continue;
        // Express hands over `{}` for a request without a body.
        const result = schema.safeParse(part === 'body' ? (raw.body ?? {}) : raw[part]);
        if (!result.success) return { invalid: result.error?.issues ?? [] };
        input[part] = result.data;
      }
      return handle(state, input as Input<C>);
    },
  };
}

const ok = (response: unknown): Outcome => ({ status: 200, body: { response } });

/** Runs `action` on the user with that id and answers the user; USER_NOT_FOUND, or what `refuse` says, otherwise. */
function withUser(
  state: State,
  id: number,
  action: (user: PanelUser) => void,
  refuse?: (user: PanelUser) => ErrorDef | undefined,
): Outcome {
  refreshStatuses(state);
  const user = state.users.get(id);
  if (!user) return { error: ERRORS.USER_NOT_FOUND };
  const error = refuse?.(user);
  if (error) return { error };
  action(user);
  return ok(user);
}

/** Runs `action` on every listed user that exists; the panel skips unknown ids without a word. */
function forUsers(state: State, ids: number[], action: (user: PanelUser) => void): void {
  refreshStatuses(state);
  for (const id of ids) {
    const user = state.users.get(id);
    if (user) action(user);
  }
}

function findUser(state: State, match: (user: PanelUser) => boolean): Outcome {
  const user = listUsers(state).find(match);
  return user ? ok(user) : { error: ERRORS.GET_USER_BY_UNIQUE_FIELDS_NOT_FOUND };
}

/** What a bulk route answers when it names a user of `refuseIds`. */
const REFUSED: ErrorDef = { code: 'A400', message: 'Bulk request refused: it names a user the panel will not change', httpCode: 400 };
const refuses = (state: State, ids: number[]) => ids.some((id) => state.settings.refuseIds.includes(id));

/** Routes in the panel's matching order: literal paths before `:userId`. */
const ROUTES: Route[] = [
  route(GetUsersStreamCommand, (state, { query }) => {
    const { cursor, size, ...filters } = query;
    const users = listUsers(state)
      .filter((u) => cursor === undefined || u.id > cursor)
      .filter((u) => Object.entries(filters).every(([key, value]) => value === undefined || u[key as keyof typeof filters] === value))
      .sort((a, b) => a.id - b.id);
    const page = users.slice(0, size);
    const hasMore = users.length > size;
    if (!hasMore) afterListing(state);
    return ok({ users: page, nextCursor: hasMore ? String(page.at(-1)?.id) : null, hasMore });
  }),
  route(GetUsersCommand, (state, { query }) => {
    const users = listUsers(state).sort((a, b) => b.id - a.id);
    if (query.start + query.size >= users.length) afterListing(state);
    return ok({ users: users.slice(query.start, query.start + query.size), total: users.length });
  }),
  route(UpdateUserCommand, (state, { body }) => {
    const { id, username, ...changes } = body;
    const user = listUsers(state).find((u) => (id === undefined || u.id === id) && (username === undefined || u.username === username));
    if (!user) return { error: ERRORS.USER_NOT_FOUND };
    applyChanges(user, changes);
    return ok(user);
  }),
  route(BulkUpdateUsersCommand, (state, { body }) => {
    if (body.fields.status === 'EXPIRED' || body.fields.status === 'LIMITED') return { error: ERRORS.INVALID_USER_STATUS_ERROR };
    if (refuses(state, body.userIds)) return { error: REFUSED };
    forUsers(state, body.userIds, (user) => applyChanges(user, body.fields));
    return { status: 202 };
  }),
  route(BulkResetTrafficUsersCommand, (state, { body }) => {
    if (refuses(state, body.userIds)) return { error: REFUSED };
    forUsers(state, body.userIds, (user) => resetTraffic(user));
    return { status: 202 };
  }),
  route(BulkExtendExpirationDateCommand, (state, { body }) => {
    forUsers(state, body.userIds, (user) => bulkExtendUser(user, body.extendDays));
    return { status: 204 };
  }),
  route(BulkDeleteUsersCommand, (state, { body }) => {
    if (refuses(state, body.userIds)) return { error: REFUSED };
    for (const id of body.userIds) state.users.delete(id);
    return { status: 204 };
  }),
  route(GetUserByShortUuidCommand, (state, { params }) => findUser(state, (u) => u.shortUuid === params.shortUuid)),
  route(GetUserByUsernameCommand, (state, { params }) => findUser(state, (u) => u.username === params.username)),
  route(GetUserByIdCommand, (state, { params }) => findUser(state, (u) => u.id === params.userId)),
  route(DisableUserCommand, (state, { params }) =>
    withUser(
      state,
      params.userId,
      (user) => setStatus(user, 'DISABLED'),
      (user) => (user.status === 'DISABLED' ? ERRORS.USER_ALREADY_DISABLED : undefined),
    ),
  ),
  route(EnableUserCommand, (state, { params }) =>
    withUser(
      state,
      params.userId,
      (user) => setStatus(user, 'ACTIVE'),
      (user) => (user.status === 'ACTIVE' ? ERRORS.USER_ALREADY_ENABLED : undefined),
    ),
  ),
  route(ResetUserTrafficCommand, (state, { params }) => withUser(state, params.userId, (user) => resetTraffic(user))),
  route(ExtendUserCommand, (state, { params, body }) => withUser(state, params.userId, (user) => extendUser(user, body.days))),
  route(GetNodesCommand, (state) => ok(listNodes(state))),
  route(GetNodeCommand, (state, { params }) => {
    const node = state.nodes.get(params.uuid);
    return node ? ok(node) : { error: ERRORS.NODE_NOT_FOUND };
  }),
  route(GetStatsCommand, (state) => ok(systemStats(state))),
  route(GetBandwidthStatsCommand, (state) => ok(bandwidthStats(state))),
  route(GetStatsNodesUsageCommand, (state, { query }) => ok(nodesUsage(state, query))),
  route(GetRemnawaveHealthCommand, () => ok(health())),
];

/** The route for a request, with its decoded path parameters; undefined answers Nest's `Cannot METHOD path` 404. */
export function matchRoute(method: string, pathname: string): { route: Route; params: Record<string, string> } | undefined {
  for (const route of ROUTES) {
    if (route.method !== method) continue;
    const match = route.pattern.exec(pathname);
    if (!match) continue;
    const params: Record<string, string> = {};
    for (const [key, value] of Object.entries(match.groups ?? {})) params[key] = safeDecode(value);
    return { route, params };
  }
  return undefined;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
