/** The Remnawave stand-in around its API: failures on demand, the reverse proxy, the body cap, and the control API. */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { GetNodesCommand, GetRemnawaveHealthCommand, GetUsersCommand, RemnawaveWebhookEventSchema } from '@remnawave/backend-contract';
import { startReceiver } from '../standin/testing.ts';
import { REMNAWAVE_STAND_IN_TOKEN } from './stand-in.ts';
import { expectError, fileStandIn, NODE_UUID, parsed } from './testing.ts';

const { standIn, base, api, control } = await fileStandIn();

test('failures on demand: failNext, down, latency', async () => {
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

test('reverse proxy headers when required', async () => {
  standIn.configure({ requireProxyHeaders: true });
  await assert.rejects(fetch(`${base}/api/users`, { headers: { authorization: `Bearer ${REMNAWAVE_STAND_IN_TOKEN}` } }));
  parsed(await api('GET', '/api/users'), GetUsersCommand.ResponseSchema);
});

test('control API: seed, inspect, config, calls, reset', async () => {
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

test('webhooks: signed like the panel, payload parses with the contract', async () => {
  const hook = await startReceiver(() => ({ status: 200, body: 'ok' }));
  const seen = hook.hits;
  const hookUrl = `${hook.origin}/remnawave`;
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
  await hook.close();
});

test('a body over 100 MB is refused with 413, as the panel body parser does', async () => {
  const res = await fetch(`${base}/api/users/bulk/delete`, {
    method: 'POST',
    headers: { authorization: `Bearer ${REMNAWAVE_STAND_IN_TOKEN}`, 'content-type': 'application/json' },
    body: new Uint8Array(100 * 1024 * 1024 + 1),
  });
  assert.equal(res.status, 413);
  assert.deepEqual(await res.json(), { statusCode: 413, message: 'request entity too large' });
  assert.equal(((await control('calls')).json.calls as unknown[]).length, 0);
  assert.equal(standIn.users().length, 5);
});

test('close() does not wait for keep-alive sockets', async () => {
  parsed(await api('GET', '/api/system/health'), GetRemnawaveHealthCommand.ResponseSchema);
  const closing = performance.now();
  await standIn.close();
  assert.ok(performance.now() - closing < 1000, 'close() must not wait for keep-alive sockets');
});
