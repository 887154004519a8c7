/**
 * Edge class: bodies larger than a route takes. Every route with a body refuses one above its cap
 * with 413 before reading it; unauthenticated routes do so as fast as a wrong Telegram secret is
 * refused, whether the size is announced (`Content-Length`) or only found while streaming.
 */
import { env } from 'cloudflare:workers';
import { count, eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { apiBodyLimits } from '../app';
import { telegramUpdatesTable } from '../bot/updates.schema';
import { UPDATE_MAX_BYTES } from '../bot/webhook.routes';
import { SIGN_IN_FORM_MAX_BYTES } from '../console/sign-in.pages';
import { PROVIDER_WEBHOOK_MAX_BYTES } from '../core/http';
import { webhookLogsTable } from '../payments/payments.schema';
import { uniqueTelegramId, withTestDb } from '../testing/db';
import { call, json, postUpdate } from '../testing/http';
import { usersTable } from '../users/users.schema';

const MiB = 1024 * 1024;

/** `total` bytes of spaces, made as they are read (64 KiB at a time), never held whole. */
function spaces(total: number): ReadableStream<Uint8Array> {
  const block = new Uint8Array(64 * 1024).fill(0x20);
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= total) return controller.close();
      const n = Math.min(block.byteLength, total - sent);
      controller.enqueue(block.slice(0, n));
      sent += n;
    },
  });
}

/** A streamed body of `total` bytes that announces its length (`Content-Length`), or not (chunked). */
function hugeBody(total: number, announced: boolean): ReadableStream<Uint8Array> {
  if (!announced) return spaces(total);
  const { readable, writable } = new FixedLengthStream(total);
  // The Worker refuses the body unread: the pipe ends when it is cancelled.
  spaces(total)
    .pipeTo(writable)
    .catch(() => {});
  return readable;
}

const post = (path: string, body: BodyInit, headers: Record<string, string> = {}) =>
  call(path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

/** Milliseconds `send` takes, and its response. */
async function timed(send: () => Promise<Response>): Promise<{ ms: number; res: Response }> {
  const started = performance.now();
  const res = await send();
  await res.arrayBuffer();
  return { ms: performance.now() - started, res };
}

const storedCounts = () =>
  withTestDb(async (db) => ({
    webhooks: (await db.select({ n: count() }).from(webhookLogsTable))[0]?.n,
    updates: (await db.select({ n: count() }).from(telegramUpdatesTable))[0]?.n,
  }));

// Every route that takes a body without credentials, and the credential each would need.
const unauthenticated: { what: string; send: (body: BodyInit) => Promise<Response> }[] = [
  { what: 'POST /webhooks/cryptobot', send: (body) => post('/webhooks/cryptobot', body, { 'crypto-pay-api-signature': '00'.repeat(32) }) },
  {
    what: 'POST /webhooks/remnawave',
    send: (body) =>
      post('/webhooks/remnawave', body, { 'x-remnawave-signature': '00'.repeat(32), 'x-remnawave-timestamp': new Date().toISOString() }),
  },
  {
    what: 'POST /telegram/webhook (right secret)',
    send: (body) => post('/telegram/webhook', body, { 'x-telegram-bot-api-secret-token': env.TELEGRAM_WEBHOOK_SECRET }),
  },
  {
    what: 'POST /admin/login',
    send: (body) =>
      call('/admin/login', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', 'cf-connecting-ip': '203.0.113.77', cookie: 'flarecast_login=x' },
        body,
      }),
  },
];

describe('oversized bodies', () => {
  it('answers a 50 MiB body without valid credentials 413, as fast as a wrong Telegram secret, storing nothing', async () => {
    const baseline = async () => (await timed(() => postUpdate({ update_id: 1 }, 'wrong-secret'))).ms;
    // Warm up, then the slowest of three refusals is the yardstick.
    await baseline();
    const yardstick = Math.max(await baseline(), await baseline(), await baseline());
    const before = await storedCounts();
    for (const route of unauthenticated) {
      for (const announced of [true, false]) {
        const { ms, res } = await timed(() => route.send(hugeBody(50 * MiB, announced)));
        const label = `${route.what}, ${announced ? 'Content-Length' : 'chunked'}: ${Math.round(ms)} ms vs ${Math.round(yardstick)} ms`;
        expect(res.status, label).toBe(413);
        expect(ms, label).toBeLessThan(yardstick + 250);
      }
    }
    expect(await storedCounts()).toEqual(before);
  });

  it('refuses a 2 MiB Telegram update with the right secret, and keeps the user out of the database', async () => {
    const id = uniqueTelegramId();
    const update = {
      update_id: Math.floor(Math.random() * 1e9),
      message: {
        message_id: 1,
        date: 0,
        chat: { id, type: 'private' },
        from: { id, is_bot: false, first_name: 'A'.repeat(2 * MiB) },
        text: 'hi',
      },
    };
    const res = await postUpdate(update);
    expect(res.status).toBe(413);
    expect(await json(res)).toMatchObject({ error: 'payload_too_large' });
    expect(await withTestDb((db) => db.select().from(usersTable).where(eq(usersTable.telegramId, id)))).toEqual([]);
  });

  it('takes bodies up to each cap: an update, a provider webhook and a sign-in form just under it pass the size check', async () => {
    // Just under the cap: refused for what it is (JSON, signature, CSRF), never for its size.
    const pad = (bytes: number) => `{"update_id":1,"pad":"${'x'.repeat(bytes - 24)}"}`;
    expect((await postUpdate(pad(UPDATE_MAX_BYTES), 'wrong-secret')).status).toBe(401);
    expect((await post('/webhooks/cryptobot', pad(PROVIDER_WEBHOOK_MAX_BYTES), { 'crypto-pay-api-signature': 'x' })).status).toBe(401);
    const form = `_csrf=x&token=${'t'.repeat(SIGN_IN_FORM_MAX_BYTES - 20)}`;
    const signIn = await call('/admin/login', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', 'cf-connecting-ip': '203.0.113.78', cookie: 'flarecast_login=y' },
      body: form,
    });
    expect(signIn.status).toBe(403);
    expect((await postUpdate(pad(UPDATE_MAX_BYTES + 1), 'wrong-secret')).status).toBe(413);
  });

  it('caps the admin API after the bearer token: what its schemas allow, no more', async () => {
    const auth = { authorization: `Bearer ${env.ADMIN_API_TOKEN}` };
    // Without the token the body is never looked at: 401, whatever its size.
    expect((await post('/api/tasks', hugeBody(50 * MiB, true))).status).toBe(401);
    expect((await post('/api/tasks', hugeBody(2 * MiB, true), auth)).status).toBe(413);
    expect((await post('/api/tasks', hugeBody(2 * MiB, false), auth)).status).toBe(413);
    for (const [route, max] of Object.entries(apiBodyLimits)) {
      const path = route.replace(/^POST /, '');
      expect((await post(path, hugeBody(max + 1, true), auth)).status, route).toBe(413);
      // At the cap the body is read and judged by its schema (spaces are not JSON).
      expect((await post(path, hugeBody(max, true), auth)).status, route).toBe(400);
    }
  });
});
