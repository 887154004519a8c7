/**
 * The Remnawave stand-in's panel API: calls every route, checks the 400/401/404 behaviour, and parses every
 * success body with the contract's ResponseSchema.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
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
  ResetUserTrafficCommand,
  UpdateUserCommand,
} from '@remnawave/backend-contract';
import { REMNAWAVE_STAND_IN_TOKEN } from './stand-in.ts';
import { DAY, expectEmpty, expectError, expectInvalid, fileStandIn, NODE_UUID, parsed, past } from './testing.ts';

const { standIn, base, api } = await fileStandIn();

test('auth and unknown routes', async () => {
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

test('list users: offset paging, newest first, size <= 1000', async () => {
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

test('lazy EXPIRED and LIMITED marking', async () => {
  const users = parsed(await api('GET', '/api/users'), GetUsersCommand.ResponseSchema).users;
  const status = Object.fromEntries(users.map((u) => [u.username, u.status]));
  assert.deepEqual(status, { alice: 'ACTIVE', bob: 'DISABLED', carol: 'EXPIRED', dave: 'LIMITED', erin: 'ACTIVE' });
  standIn.upsertUsers([{ id: 1, expireAt: new Date(Date.now() + 150).toISOString() }]);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(parsed(await api('GET', '/api/users/1'), GetUserByIdCommand.ResponseSchema).status, 'EXPIRED');
});

test('stream: cursor paging and filters', async () => {
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

test('get user by id, short uuid, username', async () => {
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

test('user actions: disable, enable, reset-traffic, extend', async () => {
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

test('update user (PATCH /api/users)', async () => {
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

test('bulk routes: empty 202/204, 1..500 ids, unknown ids skipped', async () => {
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

test('nodes', async () => {
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

test('system stats, bandwidth, node usage, health', async () => {
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
