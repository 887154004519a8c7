/**
 * Self-check for the Remnawave stand-in: `node tools/remnawave/stand-in.check.ts` from the repo root. Calls every
 * route, checks the 400/401/404/5xx behaviour, and parses every success body with the contract's ResponseSchema.
 * Exits non-zero on the first failed assertion.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  DisableUserCommand,
  EnableUserCommand,
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
  REMNAWAVE_BYPASS_HTTPS_RESTRCTIONS,
  RemnawaveWebhookEventSchema,
  ResetUserTrafficCommand,
  UpdateUserCommand,
} from '@remnawave/backend-contract';
import { REMNAWAVE_STAND_IN_TOKEN, startRemnawaveStandIn } from './stand-in.ts';

const DAY = 86_400_000;
const past = new Date(Date.now() - DAY).toISOString();
const NODE_UUID = '0b6a4c3e-1f7d-4e0a-8c55-6f2d9a7b3c10';

const standIn = await startRemnawaveStandIn({
  users: [
    { username: 'alice', telegramId: 111 },
    { username: 'bob', telegramId: 222, status: 'DISABLED' },
    { username: 'carol', expireAt: past },
    { username: 'dave', trafficLimitBytes: 1000, userTraffic: { usedTrafficBytes: 1000, onlineAt: new Date().toISOString() } },
    { username: 'erin', telegramId: 111 },
  ],
  nodes: [
    { uuid: NODE_UUID, name: 'Amsterdam', countryCode: 'NL', usersOnline: 7, trafficUsedBytes: 5 * 1024 ** 3 },
    { isConnected: false },
  ],
});
const base = standIn.url;

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: Record<string, unknown>;
}

async function api(method: string, path: string, body?: unknown, token: string | null = REMNAWAVE_STAND_IN_TOKEN): Promise<Answer> {
  const headers: Record<string, string> = { ...REMNAWAVE_BYPASS_HTTPS_RESTRCTIONS };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  const json = res.headers.get('content-type')?.includes('json') ? (JSON.parse(text) as Record<string, unknown>) : {};
  return { status: res.status, headers: res.headers, text, json };
}

async function control(path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const init: RequestInit =
    body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
  const res = await fetch(`${base}/__control/${path}`, init);
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

interface Schema<T> {
  safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: unknown } };
}

/** Asserts a 200 whose body parses with the command's ResponseSchema; returns the parsed `response`. */
function parsed<T extends { response: unknown }>(a: Answer, schema: Schema<T>): T['response'] {
  assert.equal(a.status, 200, a.text);
  const result = schema.safeParse(a.json);
  if (!result.success) assert.fail(`response does not parse: ${JSON.stringify(result.error.issues)}`);
  return result.data.response;
}

function expectError(a: Answer, status: number, errorCode: string, message?: string | RegExp): void {
  assert.equal(a.status, status, a.text);
  assert.deepEqual(Object.keys(a.json).sort(), ['errorCode', 'message', 'path', 'timestamp']);
  assert.equal(a.json.errorCode, errorCode);
  assert.ok(!Number.isNaN(Date.parse(String(a.json.timestamp))));
  if (message !== undefined) assert.match(String(a.json.message), typeof message === 'string' ? new RegExp(`^${message}$`) : message);
}

function expectInvalid(a: Answer, path?: string): void {
  assert.equal(a.status, 400, a.text);
  assert.equal(a.json.statusCode, 400);
  assert.equal(a.json.message, 'Validation failed');
  const errors = a.json.errors as Array<{ path: unknown[] }>;
  assert.ok(errors.length > 0);
  if (path !== undefined)
    assert.ok(
      errors.some((e) => e.path.join('.') === path),
      JSON.stringify(errors),
    );
}

function expectEmpty(a: Answer, status: number): void {
  assert.equal(a.status, status, a.text);
  assert.equal(a.text, '');
}

async function run(name: string, fn: () => Promise<void>): Promise<void> {
  standIn.reset();
  standIn.configure({ latencyMs: 0, token: REMNAWAVE_STAND_IN_TOKEN, requireProxyHeaders: false });
  await fn();
  console.log(`ok - ${name}`);
}

await run('auth and unknown routes', async () => {
  expectError(await api('GET', '/api/users', undefined, null), 401, 'E000', 'Unauthorized');
  const wrong = await api('GET', '/api/users?size=5', undefined, 'nope');
  expectError(wrong, 401, 'E000', 'Unauthorized');
  assert.equal(wrong.json.path, '/api/users?size=5');
  expectError(await api('GET', '/api/unknown'), 404, 'E000', 'Cannot GET /api/unknown');
  expectError(await api('DELETE', '/api/nodes'), 404, 'E000', 'Cannot DELETE /api/nodes');
  standIn.configure({ token: 'rotated' });
  expectError(await api('GET', '/api/users'), 401, 'E000');
  parsed(await api('GET', '/api/users', undefined, 'rotated'), GetUsersCommand.ResponseSchema);
});

await run('list users: offset paging, newest first, size <= 1000', async () => {
  const page = parsed(await api('GET', '/api/users?start=1&size=2'), GetUsersCommand.ResponseSchema);
  assert.equal(page.total, 5);
  assert.deepEqual(
    page.users.map((u) => u.username),
    ['dave', 'carol'],
  );
  assert.equal(parsed(await api('GET', '/api/users/'), GetUsersCommand.ResponseSchema).users.length, 5);
  parsed(await api('GET', '/api/users?size=1000'), GetUsersCommand.ResponseSchema);
  expectInvalid(await api('GET', '/api/users?size=1001'), 'size');
  expectInvalid(await api('GET', '/api/users?size=0'), 'size');
});

await run('lazy EXPIRED and LIMITED marking', async () => {
  const users = parsed(await api('GET', '/api/users'), GetUsersCommand.ResponseSchema).users;
  const status = Object.fromEntries(users.map((u) => [u.username, u.status]));
  assert.deepEqual(status, { alice: 'ACTIVE', bob: 'DISABLED', carol: 'EXPIRED', dave: 'LIMITED', erin: 'ACTIVE' });
  standIn.upsertUsers([{ id: 1, expireAt: new Date(Date.now() + 150).toISOString() }]);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(parsed(await api('GET', '/api/users/1'), GetUserByIdCommand.ResponseSchema).status, 'EXPIRED');
});

await run('stream: cursor paging and filters', async () => {
  const first = parsed(await api('GET', '/api/users/stream?size=2'), GetUsersStreamCommand.ResponseSchema);
  assert.deepEqual(
    first.users.map((u) => u.id),
    [1, 2],
  );
  assert.equal(first.hasMore, true);
  assert.equal(first.nextCursor, '2');
  const last = parsed(await api('GET', '/api/users/stream?size=2&cursor=4'), GetUsersStreamCommand.ResponseSchema);
  assert.deepEqual(
    last.users.map((u) => u.id),
    [5],
  );
  assert.equal(last.nextCursor, null);
  const tg = parsed(await api('GET', '/api/users/stream?telegramId=111'), GetUsersStreamCommand.ResponseSchema);
  assert.deepEqual(
    tg.users.map((u) => u.username),
    ['alice', 'erin'],
  );
  const expired = parsed(await api('GET', '/api/users/stream?status=EXPIRED'), GetUsersStreamCommand.ResponseSchema);
  assert.deepEqual(
    expired.users.map((u) => u.username),
    ['carol'],
  );
  expectInvalid(await api('GET', '/api/users/stream?status=GONE'), 'status');
});

await run('get user by id, short uuid, username', async () => {
  const alice = parsed(await api('GET', '/api/users/1'), GetUserByIdCommand.ResponseSchema);
  assert.equal(alice.username, 'alice');
  assert.equal(alice.telegramId, 111);
  assert.equal(alice.subscriptionUrl, `https://sub.stand-in.test/${alice.shortUuid}`);
  assert.ok(alice.expireAt > new Date(Date.now() + 29 * DAY));
  assert.equal(parsed(await api('GET', `/api/users/by-short-uuid/${alice.shortUuid}`), GetUserByShortUuidCommand.ResponseSchema).id, 1);
  assert.equal(parsed(await api('GET', '/api/users/by-username/bob'), GetUserByUsernameCommand.ResponseSchema).id, 2);
  expectError(await api('GET', '/api/users/999'), 404, 'A063', 'User with specified params not found');
  expectError(await api('GET', '/api/users/by-username/zed'), 404, 'A063');
  expectInvalid(await api('GET', '/api/users/abc'), 'userId');
  expectInvalid(await api('GET', '/api/users/-3'), 'userId');
});

await run('user actions: disable, enable, reset-traffic, extend', async () => {
  assert.equal(parsed(await api('POST', '/api/users/1/actions/disable'), DisableUserCommand.ResponseSchema).status, 'DISABLED');
  expectError(await api('POST', '/api/users/1/actions/disable'), 400, 'A029', 'User already disabled');
  assert.equal(parsed(await api('POST', '/api/users/1/actions/enable'), EnableUserCommand.ResponseSchema).status, 'ACTIVE');
  expectError(await api('POST', '/api/users/1/actions/enable'), 400, 'A030', 'User already enabled');
  const dave = parsed(await api('POST', '/api/users/4/actions/reset-traffic'), ResetUserTrafficCommand.ResponseSchema);
  assert.equal(dave.status, 'ACTIVE');
  assert.equal(dave.userTraffic.usedTrafficBytes, 0);
  assert.ok(dave.lastTrafficResetAt);
  const carol = parsed(await api('POST', '/api/users/3/actions/extend', { days: 10 }), ExtendUserCommand.ResponseSchema);
  assert.equal(carol.status, 'ACTIVE');
  assert.ok(Math.abs(carol.expireAt.getTime() - (Date.now() + 10 * DAY)) < 5000);
  expectInvalid(await api('POST', '/api/users/3/actions/extend', { days: 0 }), 'days');
  expectInvalid(await api('POST', '/api/users/3/actions/extend'), 'days');
  for (const action of ['disable', 'enable', 'reset-traffic']) {
    expectError(await api('POST', `/api/users/999/actions/${action}`), 404, 'A025', 'User not found');
  }
  expectError(await api('POST', '/api/users/999/actions/extend', { days: 1 }), 404, 'A025');
  assert.equal(standIn.users().find((u) => u.id === 3)?.status, 'ACTIVE');
});

await run('update user (PATCH /api/users)', async () => {
  const future = new Date(Date.now() + 90 * DAY).toISOString();
  const alice = parsed(
    await api('PATCH', '/api/users', { id: 1, status: 'DISABLED', trafficLimitBytes: 5e9, expireAt: future, telegramId: 333, tag: 'VIP' }),
    UpdateUserCommand.ResponseSchema,
  );
  assert.deepEqual(
    [alice.status, alice.trafficLimitBytes, alice.expireAt.toISOString(), alice.telegramId, alice.tag],
    ['DISABLED', 5e9, future, 333, 'VIP'],
  );
  const carol = parsed(await api('PATCH', '/api/users', { username: 'carol', expireAt: future }), UpdateUserCommand.ResponseSchema);
  assert.equal(carol.status, 'ACTIVE', 'a future expireAt re-activates an EXPIRED user');
  const dave = parsed(await api('PATCH', '/api/users', { id: 4, trafficLimitBytes: 0 }), UpdateUserCommand.ResponseSchema);
  assert.equal(dave.status, 'ACTIVE', 'removing the limit re-activates a LIMITED user');
  expectInvalid(await api('PATCH', '/api/users', { id: 1, expireAt: past }), 'expireAt');
  expectInvalid(await api('PATCH', '/api/users', { id: 1, status: 'EXPIRED' }), 'status');
  expectInvalid(await api('PATCH', '/api/users', { status: 'ACTIVE' }));
  expectError(await api('PATCH', '/api/users', { id: 999, status: 'ACTIVE' }), 404, 'A025');
});

await run('bulk routes: empty 202/204, 1..500 ids, unknown ids skipped', async () => {
  const future = new Date(Date.now() + 5 * DAY).toISOString();
  expectEmpty(await api('POST', '/api/users/bulk/update', { userIds: [1, 2, 999], fields: { status: 'DISABLED', expireAt: future } }), 202);
  assert.deepEqual(
    standIn
      .users()
      .slice(0, 2)
      .map((u) => [u.status, u.expireAt]),
    [
      ['DISABLED', future],
      ['DISABLED', future],
    ],
  );
  expectError(await api('POST', '/api/users/bulk/update', { userIds: [1], fields: { status: 'EXPIRED' } }), 400, 'A089');
  expectEmpty(await api('POST', '/api/users/bulk/reset-traffic', { userIds: [4] }), 202);
  assert.equal(standIn.users()[3]?.status, 'ACTIVE');
  const carolBefore = Date.parse(standIn.users()[2]?.expireAt ?? '');
  expectEmpty(await api('POST', '/api/users/bulk/extend-expiration-date', { userIds: [3], extendDays: 2 }), 204);
  const carol = standIn.users()[2];
  assert.equal(Date.parse(carol?.expireAt ?? '') - carolBefore, 2 * DAY);
  assert.equal(carol?.status, 'ACTIVE');
  expectEmpty(await api('POST', '/api/users/bulk/delete', { userIds: [5, 999] }), 204);
  assert.equal(standIn.users().length, 4);
  expectInvalid(await api('POST', '/api/users/bulk/delete', { userIds: [] }), 'userIds');
  expectInvalid(await api('POST', '/api/users/bulk/reset-traffic', { userIds: Array.from({ length: 501 }, (_, i) => i + 1) }), 'userIds');
  expectInvalid(await api('POST', '/api/users/bulk/extend-expiration-date', { userIds: [1] }), 'extendDays');
  const noType = await fetch(`${base}/api/users/bulk/delete`, {
    method: 'POST',
    headers: { authorization: `Bearer ${REMNAWAVE_STAND_IN_TOKEN}` },
    body: JSON.stringify({ userIds: [1] }),
  });
  assert.equal(noType.status, 400, 'without a JSON content type the body is not read, as with Express');
  const badJson = await fetch(`${base}/api/users/bulk/delete`, {
    method: 'POST',
    headers: { authorization: `Bearer ${REMNAWAVE_STAND_IN_TOKEN}`, 'content-type': 'application/json' },
    body: '{"userIds":',
  });
  assert.equal(badJson.status, 400);
});

await run('nodes', async () => {
  const nodes = parsed(await api('GET', '/api/nodes'), GetNodesCommand.ResponseSchema);
  assert.equal(nodes.length, 2);
  assert.deepEqual(
    nodes.map((n) => [n.name, n.isConnected, n.isDisabled, n.isConnecting, n.countryCode, n.usersOnline]),
    [
      ['Amsterdam', true, false, false, 'NL', 7],
      ['Node 2', false, false, false, 'DE', 0],
    ],
  );
  assert.equal(parsed(await api('GET', `/api/nodes/${NODE_UUID}`), GetNodeCommand.ResponseSchema).trafficUsedBytes, 5 * 1024 ** 3);
  expectError(await api('GET', '/api/nodes/6a1f0e2b-9c3d-4b8a-a7e6-5d4c3b2a1f00'), 404, 'A011', 'Node not found');
  expectInvalid(await api('GET', '/api/nodes/not-a-uuid'), 'uuid');
});

await run('system stats, bandwidth, node usage, health', async () => {
  const stats = parsed(await api('GET', '/api/system/stats'), GetStatsCommand.ResponseSchema);
  assert.deepEqual(stats.users, { statusCounts: { ACTIVE: 2, DISABLED: 1, LIMITED: 1, EXPIRED: 1 }, totalUsers: 5 });
  assert.equal(stats.onlineStats.onlineNow, 1);
  assert.equal(stats.onlineStats.neverOnline, 4);
  assert.equal(stats.nodes.totalOnline, 7);
  const bandwidth = parsed(await api('GET', '/api/system/stats/bandwidth'), GetBandwidthStatsCommand.ResponseSchema);
  assert.equal(bandwidth.bandwidthLastTwoDays.current, '5 GB');
  const usage = parsed(
    await api('GET', '/api/bandwidth-stats/nodes?start=2026-01-01&end=2026-01-07&topNodesLimit=1'),
    GetStatsNodesUsageCommand.ResponseSchema,
  );
  assert.equal(usage.categories.length, 7);
  assert.deepEqual(
    usage.topNodes.map((n) => [n.name, n.total]),
    [['Amsterdam', 5 * 1024 ** 3]],
  );
  expectInvalid(await api('GET', '/api/bandwidth-stats/nodes'), 'start');
  const health = parsed(await api('GET', '/api/system/health'), GetRemnawaveHealthCommand.ResponseSchema);
  assert.equal(health.runtimeMetrics[0]?.pid, process.pid);
});

await run('failures on demand: failNext, down, latency', async () => {
  standIn.configure({ failNext: { status: 503, count: 2 } });
  for (let i = 0; i < 2; i++) {
    const down = await api('GET', '/api/users');
    assert.equal(down.status, 503);
    assert.match(down.headers.get('content-type') ?? '', /text\/html/);
    assert.match(down.text, /503 Service Temporarily Unavailable/);
  }
  parsed(await api('GET', '/api/users'), GetUsersCommand.ResponseSchema);
  assert.equal((await control('config', { failNext: { status: 429, count: 1 } })).status, 200);
  const limited = await api('GET', '/api/nodes');
  expectError(limited, 429, 'E000', 'ThrottlerException: Too Many Requests');
  assert.equal(limited.headers.get('retry-after'), '1');
  standIn.configure({ failNext: { status: 500, count: 1 } });
  expectError(await api('GET', '/api/nodes'), 500, 'A001', 'Server error');
  standIn.configure({ failNext: { status: 502, count: 1 } });
  assert.equal((await api('GET', '/api/nodes', undefined, null)).status, 502, 'proxy failures come before auth');
  assert.equal((await control('config', { down: true })).status, 200);
  for (const path of ['/api/users', '/api/system/health']) assert.equal((await api('GET', path)).status, 503);
  await control('config', { down: false });
  parsed(await api('GET', '/api/system/health'), GetRemnawaveHealthCommand.ResponseSchema);
  standIn.configure({ latencyMs: 120 });
  const started = performance.now();
  parsed(await api('GET', '/api/nodes'), GetNodesCommand.ResponseSchema);
  assert.ok(performance.now() - started >= 110);
});

await run('reverse proxy headers when required', async () => {
  standIn.configure({ requireProxyHeaders: true });
  await assert.rejects(fetch(`${base}/api/users`, { headers: { authorization: `Bearer ${REMNAWAVE_STAND_IN_TOKEN}` } }));
  parsed(await api('GET', '/api/users'), GetUsersCommand.ResponseSchema);
});

await run('control API: seed, inspect, config, calls, reset', async () => {
  const added = await control('users', [
    { username: 'frank', telegramId: 444 },
    { id: 1, status: 'DISABLED' },
  ]);
  assert.equal(added.status, 200);
  assert.deepEqual(
    (added.json.users as Array<{ id: number; username: string }>).map((u) => [u.id, u.username]),
    [
      [6, 'frank'],
      [1, 'alice'],
    ],
  );
  assert.equal((await control('users', { id: 1, telegramId: 'x' })).status, 400);
  assert.equal((await control('users', { users: [{ username: 'gina' }] })).status, 200);
  const users = (await control('users')).json.users as Array<{ username: string; status: string }>;
  assert.deepEqual(
    users.map((u) => `${u.username}:${u.status}`),
    ['alice:DISABLED', 'bob:DISABLED', 'carol:EXPIRED', 'dave:LIMITED', 'erin:ACTIVE', 'frank:ACTIVE', 'gina:ACTIVE'],
  );
  const node = await control('nodes', { uuid: NODE_UUID, isConnected: false, isConnecting: true });
  assert.equal(node.status, 200);
  const nodes = (await control('nodes')).json.nodes as Array<{ name: string; isConnecting: boolean }>;
  assert.deepEqual(
    nodes.map((n) => [n.name, n.isConnecting]),
    [
      ['Amsterdam', true],
      ['Node 2', false],
    ],
  );
  assert.equal((await control('config', { failNext: { status: 404, count: 1 } })).status, 400);
  assert.equal((await control('config', { latencyMS: 5 })).status, 400, 'unknown options are refused');
  assert.equal((await control('config')).json.latencyMs, 0);
  await api('PATCH', '/api/users', { id: 1, status: 'ACTIVE' });
  await api('GET', '/api/users/999');
  const calls = (await control('calls')).json.calls as Array<{ seq: number; method: string; path: string; body: unknown; status: number }>;
  assert.deepEqual(
    calls.map((c) => [c.method, c.path, c.body, c.status]),
    [
      ['PATCH', '/api/users', { id: 1, status: 'ACTIVE' }, 200],
      ['GET', '/api/users/999', null, 404],
    ],
  );
  const later = (await control(`calls?since_seq=${calls[0]?.seq}&method=get`)).json.calls as unknown[];
  assert.equal(later.length, 1);
  assert.equal((await control('reset', {})).status, 200);
  assert.equal(((await control('users')).json.users as unknown[]).length, 5);
  assert.equal(((await control('calls')).json.calls as unknown[]).length, 0);
  assert.equal((await control('nope')).status, 404);
});

await run('webhooks: signed like the panel, payload parses with the contract', async () => {
  const seen: Array<{ headers: IncomingHttpHeaders; raw: string }> = [];
  const hook = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      seen.push({ headers: req.headers, raw });
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
  const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/remnawave`;
  const delivery = await standIn.sendWebhook(hookUrl, 'sekret', 'user.expired', 3);
  assert.deepEqual([delivery.status, delivery.body], [200, 'ok']);
  const viaControl = await control('webhooks', { url: hookUrl, secret: 'sekret', event: 'node.connection_lost', nodeUuid: NODE_UUID });
  assert.equal(viaControl.status, 200);
  await standIn.sendWebhook(hookUrl, 'sekret', 'user.expiration', 1, { expiration: 24 });
  assert.equal(seen.length, 3);
  for (const { headers, raw } of seen) {
    assert.equal(headers['x-remnawave-signature'], createHmac('sha256', 'sekret').update(raw).digest('hex'));
    assert.equal(headers['user-agent'], 'Remnawave');
    const event = RemnawaveWebhookEventSchema.safeParse(JSON.parse(raw));
    if (!event.success) assert.fail(JSON.stringify(event.error.issues));
    assert.equal(headers['x-remnawave-timestamp'], event.data.timestamp.toISOString());
  }
  const [expired, lost, expiring] = seen.map(
    (s) => JSON.parse(s.raw) as { scope: string; event: string; data: Record<string, unknown>; meta?: unknown },
  );
  assert.deepEqual(
    [expired?.scope, expired?.event, expired?.data.username, expired?.data.status],
    ['user', 'user.expired', 'carol', 'EXPIRED'],
  );
  assert.deepEqual([lost?.scope, lost?.event, lost?.data.name], ['node', 'node.connection_lost', 'Amsterdam']);
  assert.deepEqual(expiring?.meta, { expiration: 24 });
  assert.equal((await control('webhooks', { url: hookUrl, secret: 's', event: 'user.expired', userId: 999 })).status, 404);
  await assert.rejects(standIn.sendWebhook(hookUrl, 's', 'node.connection_lost', 1 as unknown as string));
  hook.closeAllConnections();
  await new Promise<void>((resolve) => hook.close(() => resolve()));
});

const closing = performance.now();
await standIn.close();
assert.ok(performance.now() - closing < 1000, 'close() must not wait for keep-alive sockets');
console.log('all remnawave stand-in checks passed');
