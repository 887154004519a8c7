/** What the Remnawave stand-in's test files share: one seeded stand-in per file, reset before each test, and a panel client. */
import assert from 'node:assert/strict';
import { after, beforeEach } from 'node:test';
import { REMNAWAVE_BYPASS_HTTPS_RESTRCTIONS } from '@remnawave/backend-contract';
import { controlClient } from '../standin/testing.ts';
import { REMNAWAVE_STAND_IN_TOKEN, startRemnawaveStandIn } from './stand-in.ts';

export const DAY = 86_400_000;
/** A day before the file started. */
export const past = new Date(Date.now() - DAY).toISOString();
export const NODE_UUID = '0b6a4c3e-1f7d-4e0a-8c55-6f2d9a7b3c10';

export interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: Record<string, unknown>;
}

/**
 * Starts the file's stand-in with five users (alice, bob DISABLED, carol EXPIRED, dave LIMITED, erin) and two
 * nodes (Amsterdam, a disconnected one); before each test it goes back to them, without latency or proxy
 * checks; it closes after the file's last test.
 */
export async function fileStandIn() {
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
  beforeEach(() => {
    standIn.reset();
    standIn.configure({ latencyMs: 0, token: REMNAWAVE_STAND_IN_TOKEN, requireProxyHeaders: false });
  });
  after(() => standIn.close());

  /** Calls the panel API as the product does (JSON body, bearer token unless `token` is null). */
  async function api(method: string, path: string, body?: unknown, token: string | null = REMNAWAVE_STAND_IN_TOKEN): Promise<Answer> {
    const headers: Record<string, string> = { ...REMNAWAVE_BYPASS_HTTPS_RESTRCTIONS };
    if (token !== null) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${standIn.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    const json = res.headers.get('content-type')?.includes('json') ? (JSON.parse(text) as Record<string, unknown>) : {};
    return { status: res.status, headers: res.headers, text, json };
  }

  return { standIn, base: standIn.url, api, control: controlClient(standIn.url) };
}

interface Schema<T> {
  safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: unknown } };
}

/** Asserts a 200 whose body parses with the command's ResponseSchema; returns the parsed `response`. */
export function parsed<T extends { response: unknown }>(a: Answer, schema: Schema<T>): T['response'] {
  assert.equal(a.status, 200, a.text);
  const result = schema.safeParse(a.json);
  if (!result.success) assert.fail(`response does not parse: ${JSON.stringify(result.error.issues)}`);
  return result.data.response;
}

export function expectError(a: Answer, status: number, errorCode: string, message?: string | RegExp): void {
  assert.equal(a.status, status, a.text);
  assert.deepEqual(Object.keys(a.json).sort(), ['errorCode', 'message', 'path', 'timestamp']);
  assert.equal(a.json.errorCode, errorCode);
  assert.ok(!Number.isNaN(Date.parse(String(a.json.timestamp))));
  if (message !== undefined) assert.match(String(a.json.message), typeof message === 'string' ? new RegExp(`^${message}$`) : message);
}

export function expectInvalid(a: Answer, path?: string): void {
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

export function expectEmpty(a: Answer, status: number): void {
  assert.equal(a.status, status, a.text);
  assert.equal(a.text, '');
}
