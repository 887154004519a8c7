/** What the Telegram stand-in's test files share: one stand-in per file, reset before each test, and a Bot API client. */
import assert from 'node:assert/strict';
import { after, beforeEach } from 'node:test';
import { controlClient } from '../standin/testing.ts';
import { startTelegramStandIn } from './stand-in.ts';

export const TOKEN = '123456:ABC-def_ghi';

export interface Answer {
  status: number;
  body: { ok: boolean; result?: unknown; error_code?: number; description?: string; parameters?: { retry_after?: number } };
}

/**
 * Starts the file's stand-in (token {@link TOKEN}): before each test it is reset and given the real limits back
 * (30/s, 1000/s paid, 1/s per chat with a burst of 3, no latency); it closes after the file's last test.
 */
export async function fileStandIn() {
  const standIn = await startTelegramStandIn({ token: TOKEN });
  beforeEach(() => {
    standIn.reset();
    standIn.configure({
      rateLimit: 30,
      paidRateLimit: 1000,
      perChatPerSecond: 1,
      perChatBurst: 3,
      latencyMs: 0,
      jitterMs: 0,
      floodPenaltyMs: 100,
      maxConnectionsPerInvocation: 6,
      failEvery: null,
    });
  });
  after(() => standIn.close());

  /** POSTs `params` as JSON to a Bot API method. */
  async function call(
    method: string,
    params: Record<string, unknown> = {},
    token = TOKEN,
    headers: Record<string, string> = {},
  ): Promise<Answer> {
    const res = await fetch(`${standIn.url}/bot${token}/${method}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(params),
    });
    return answer(res);
  }

  return { standIn, call, control: controlClient(standIn.url) };
}

export async function answer(res: Response): Promise<Answer> {
  return { status: res.status, body: (await res.json()) as Answer['body'] };
}

export function result(a: Answer): Record<string, unknown> {
  assert.equal(a.status, 200, JSON.stringify(a.body));
  assert.equal(a.body.ok, true);
  return a.body.result as Record<string, unknown>;
}

export function expectError(a: Answer, status: number, description: string): void {
  assert.deepEqual({ status: a.status, body: a.body }, { status, body: { ok: false, error_code: status, description } });
}

export function expect429(a: Answer, retryAfter: number): void {
  assert.deepEqual(
    { status: a.status, body: a.body },
    {
      status: 429,
      body: {
        ok: false,
        error_code: 429,
        description: `Too Many Requests: retry after ${retryAfter}`,
        parameters: { retry_after: retryAfter },
      },
    },
  );
}

let lastChat = 1000;

/** A chat id no earlier test of the file used. */
export const chat = () => ++lastChat;
