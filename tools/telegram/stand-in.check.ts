/**
 * Self-check for the Telegram stand-in: `node tools/telegram/stand-in.check.ts` from the repo root.
 * Exits non-zero on the first failed assertion.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { RateLimiter, SlidingWindow } from './buckets.ts';
import { ConnectionCap } from './connections.ts';
import { INVOCATION_HEADER, startTelegramStandIn } from './stand-in.ts';

const TOKEN = '123456:ABC-def_ghi';

interface Answer {
  status: number;
  body: { ok: boolean; result?: unknown; error_code?: number; description?: string; parameters?: { retry_after?: number } };
}

const standIn = await startTelegramStandIn({ token: TOKEN });
const base = standIn.url;

async function call(
  method: string,
  params: Record<string, unknown> = {},
  token = TOKEN,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const res = await fetch(`${base}/bot${token}/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(params),
  });
  return { status: res.status, body: (await res.json()) as Answer['body'] };
}

async function control(path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const init: RequestInit =
    body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
  const res = await fetch(`${base}/__control/${path}`, init);
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

function result(a: Answer): Record<string, unknown> {
  assert.equal(a.status, 200, JSON.stringify(a.body));
  assert.equal(a.body.ok, true);
  return a.body.result as Record<string, unknown>;
}

function expectError(a: Answer, status: number, description: string): void {
  assert.deepEqual({ status: a.status, body: a.body }, { status, body: { ok: false, error_code: status, description } });
}

let nextChat = 1000;
const chat = () => ++nextChat;

async function run(name: string, fn: () => Promise<void>): Promise<void> {
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
  await fn();
  console.log(`ok - ${name}`);
}

/** Unit checks of the limits with a fake clock: no server, exact times. */
async function unit(name: string, fn: () => void | Promise<void>): Promise<void> {
  await fn();
  console.log(`ok - ${name}`);
}

const limits = { rateLimit: 30, paidRateLimit: 1000, perChatPerSecond: 0, perChatBurst: 3 };

await unit('sliding window: 30 at t, 30 at t+600 ms are refused until 1 s after the first', () => {
  const limiter = new RateLimiter(limits);
  // 100 ms before a whole second: a fixed per-second window would let the second group through at 11_500.
  const t = 10_900;
  for (let i = 0; i < 30; i++) assert.equal(limiter.admit(false, t), 0);
  for (let i = 0; i < 30; i++) assert.equal(limiter.admit(false, t + 600), 1);
  assert.equal(limiter.admit(false, t + 999), 1);
  for (let i = 0; i < 30; i++) assert.equal(limiter.admit(false, t + 1000), 0, `send ${i} at t + 1 s`);
  assert.equal(limiter.admit(false, t + 1000), 1);
});

await unit('sliding window: a late-decided earlier arrival must fit the windows already counted after it', () => {
  const w = new SlidingWindow(2);
  w.add(1000);
  w.add(1500);
  // (500, 1500] already holds 2, and 900 would fall in it too.
  assert.ok(w.waitMs(900) > 0);
  assert.equal(w.waitMs(2001), 0);
});

await unit('paid sends count only in the all-sends window, free ones in both', () => {
  const limiter = new RateLimiter({ ...limits, rateLimit: 2, paidRateLimit: 5 });
  for (let i = 0; i < 3; i++) assert.equal(limiter.admit(true, 0), 0);
  assert.equal(limiter.admit(false, 0), 0);
  assert.equal(limiter.admit(false, 0), 0);
  assert.equal(limiter.admit(false, 0), 1, 'free window full');
  assert.equal(limiter.admit(true, 0), 1, 'all-sends window full: 3 paid + 2 free');
});

await unit('connection cap: FIFO per id, other ids unaffected, idle ids forgotten', async () => {
  const stats = { maxInFlightPerInvocation: 0, connectionWaits: 0 };
  const cap = new ConnectionCap(1, stats);
  const never = new AbortController().signal;
  const first = await cap.acquire('a', never);
  const order: string[] = [];
  const queued = (name: string) =>
    cap.acquire('a', never).then((release) => {
      order.push(name);
      return release;
    });
  const second = queued('second');
  const third = queued('third');
  (await cap.acquire('b', never))();
  assert.deepEqual(stats, { maxInFlightPerInvocation: 1, connectionWaits: 2 });
  first();
  (await second)();
  (await third)();
  assert.deepEqual(order, ['second', 'third']);
  assert.equal(cap.activeInvocations, 0);
});

await run('getMe', async () => {
  const me = result(await call('getMe'));
  assert.equal(me.id, 123456);
  assert.equal(me.is_bot, true);
  assert.equal(me.username, 'flarecast_bot');
  assert.equal(me.supports_inline_queries, false);
});

await run('sendMessage ok and recorded', async () => {
  const id = chat();
  const msg = result(await call('sendMessage', { chat_id: id, text: 'hello <b>world</b>', parse_mode: 'HTML' }));
  assert.equal(msg.message_id, 1);
  assert.equal(msg.text, 'hello world');
  assert.deepEqual(msg.entities, [{ type: 'bold', offset: 6, length: 5 }]);
  assert.deepEqual(msg.chat, { id, first_name: 'User', username: `user${id}`, type: 'private' });
  assert.equal((msg.from as Record<string, unknown>).id, 123456);
  assert.ok(Math.abs((msg.date as number) - Date.now() / 1000) < 5);
  assert.equal(result(await call('sendMessage', { chat_id: id, text: 'again' })).message_id, 2);
  assert.equal(standIn.deliveries.length, 2);
  assert.deepEqual(
    standIn.deliveries.map((d) => [d.method, d.chat_id, d.message_id, d.text, d.paid]),
    [
      ['sendMessage', id, 1, 'hello world', false],
      ['sendMessage', id, 2, 'again', false],
    ],
  );
  assert.equal(standIn.stats.sends, 2);
});

await run('auth, routing and validation errors', async () => {
  expectError(await call('getMe', {}, '999:nope'), 401, 'Unauthorized');
  expectError(await call('getMe', {}, 'garbage'), 401, 'Unauthorized');
  expectError(await call('sendTelepathy', { chat_id: 1 }), 404, 'Not Found');
  expectError(await call('sendMessage', { text: 'x' }), 400, 'Bad Request: chat_id is empty');
  expectError(await call('sendMessage', { chat_id: chat() }), 400, 'Bad Request: message text is empty');
  expectError(await call('sendMessage', { chat_id: chat(), text: 'x'.repeat(4097) }), 400, 'Bad Request: message is too long');
  result(await call('sendMessage', { chat_id: chat(), text: 'x'.repeat(4096) }));
  expectError(
    await call('sendPhoto', { chat_id: chat(), photo: 'AgAD', caption: 'c'.repeat(1025) }),
    400,
    'Bad Request: message caption is too long',
  );
  expectError(await call('sendPhoto', { chat_id: chat() }), 400, 'Bad Request: there is no photo in the request');
  const bad = await call('sendMessage', { chat_id: chat(), text: '<b>open', parse_mode: 'HTML' });
  expectError(bad, 400, `Bad Request: can't parse entities: Can't find end tag corresponding to start tag "b"`);
  const unknown = await call('sendMessage', { chat_id: chat(), text: 'a <blink>b</blink>', parse_mode: 'HTML' });
  expectError(unknown, 400, `Bad Request: can't parse entities: Unsupported start tag "blink" at byte offset 2`);
  const [blocked, deactivated, missing] = [chat(), chat(), chat()];
  standIn.configure({ blockedChats: [blocked], deactivatedChats: [deactivated], missingChats: [missing] });
  expectError(await call('sendMessage', { chat_id: blocked, text: 'x' }), 403, 'Forbidden: bot was blocked by the user');
  expectError(await call('sendMessage', { chat_id: deactivated, text: 'x' }), 403, 'Forbidden: user is deactivated');
  expectError(await call('sendMessage', { chat_id: missing, text: 'x' }), 400, 'Bad Request: chat not found');
  expectError(await call('getChat', { chat_id: missing }), 400, 'Bad Request: chat not found');
  assert.equal(standIn.deliveries.length, 1);
});

function expect429(a: Answer, retryAfter: number): void {
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

await run('bot-wide window: 31 free sends within a second, 30 accepted, the 31st starts a flood wait', async () => {
  const answers = await Promise.all(Array.from({ length: 31 }, () => call('sendMessage', { chat_id: chat(), text: 'burst' })));
  const limited = answers.filter((a) => a.status === 429);
  assert.equal(answers.filter((a) => a.status === 200).length, 30);
  assert.equal(limited.length, 1);
  expect429(limited[0] as Answer, 1);
  assert.equal(standIn.deliveries.length, 30);
  assert.deepEqual(
    [standIn.arrivals.length, standIn.arrivals.filter((a) => a.counted).length, standIn.arrivals.filter((a) => a.status === 429).length],
    [31, 30, 1],
  );
  assert.deepEqual([standIn.stats.rejected429, standIn.stats.floods, standIn.stats.arrivedDuringFlood], [1, 1, 0]);
  // The flood wait refuses everything until it ends, and then the window (emptied by now) lets sends in.
  // The time left, counted after the 100 ms this very send added.
  expect429(await call('sendMessage', { chat_id: chat(), text: 'during' }), 2);
  assert.equal(standIn.stats.arrivedDuringFlood, 1);
  result(await call('getMe'));
  const flood = standIn.floodWait();
  assert.ok(flood);
  await sleep(flood.until - Date.now() + 5);
  assert.equal(standIn.floodWait(), undefined);
  result(await call('sendMessage', { chat_id: chat(), text: 'after' }));
});

await run('paid and free windows; a flood wait stops paid sends too', async () => {
  standIn.configure({ rateLimit: 2, paidRateLimit: 5 });
  for (let i = 0; i < 3; i++) result(await call('sendMessage', { chat_id: chat(), text: 'paid', allow_paid_broadcast: true }));
  for (let i = 0; i < 2; i++) result(await call('sendMessage', { chat_id: chat(), text: 'free' }));
  expect429(await call('sendMessage', { chat_id: chat(), text: 'paid', allow_paid_broadcast: true }), 1);
  assert.deepEqual(
    standIn.deliveries.map((d) => d.paid),
    [true, true, true, false, false],
  );
  standIn.reset();
  standIn.configure({ rateLimit: 2, paidRateLimit: 10 });
  for (let i = 0; i < 2; i++) result(await call('sendMessage', { chat_id: chat(), text: 'free' }));
  expect429(await call('sendMessage', { chat_id: chat(), text: 'free' }), 1);
  expect429(await call('sendMessage', { chat_id: chat(), text: 'paid', allow_paid_broadcast: true }), 2);
  assert.deepEqual(
    standIn.arrivals.map((a) => [a.paid, a.status, a.counted]),
    [
      [false, 200, true],
      [false, 200, true],
      [false, 429, false],
      [true, 429, false],
    ],
  );
});

await run('refused sends still count: a 400 or 403 takes a place in the window', async () => {
  standIn.configure({ rateLimit: 2 });
  const blocked = chat();
  standIn.configure({ blockedChats: [blocked] });
  expectError(await call('sendMessage', { chat_id: blocked, text: 'x' }), 403, 'Forbidden: bot was blocked by the user');
  expectError(await call('sendMessage', { chat_id: chat() }), 400, 'Bad Request: message text is empty');
  expect429(await call('sendMessage', { chat_id: chat(), text: 'x' }), 1);
  assert.equal(standIn.deliveries.length, 0);
});

await run('per-chat limit: 4th quick send to one chat is 429', async () => {
  standIn.configure({ rateLimit: 0 });
  const id = chat();
  for (let i = 0; i < 3; i++) result(await call('sendMessage', { chat_id: id, text: `n${i}` }));
  const fourth = await call('sendMessage', { chat_id: id, text: 'n3' });
  assert.equal(fourth.status, 429);
  assert.equal(fourth.body.parameters?.retry_after, 1);
  result(await call('sendMessage', { chat_id: chat(), text: 'other chat is fine' }));
});

await run('latency delays answers', async () => {
  const fast = performance.now();
  await call('getMe');
  const baseline = performance.now() - fast;
  standIn.configure({ latencyMs: 150 });
  const start = performance.now();
  result(await call('sendMessage', { chat_id: chat(), text: 'slow' }));
  const took = performance.now() - start;
  assert.ok(took >= 145, `took ${took.toFixed(1)} ms`);
  assert.ok(took < 150 + baseline + 500, `took ${took.toFixed(1)} ms`);
});

await run('copyMessage, forwardMessage, media and edits', async () => {
  const [src, dst] = [chat(), chat()];
  const original = result(await call('sendMessage', { chat_id: src, text: 'to copy' }));
  const copy = result(await call('copyMessage', { chat_id: dst, from_chat_id: src, message_id: original.message_id }));
  assert.deepEqual(Object.keys(copy), ['message_id']);
  assert.equal(standIn.deliveries.at(-1)?.text, 'to copy');
  standIn.configure({ deletedMessages: [{ chat_id: src, message_id: 99 }] });
  expectError(
    await call('copyMessage', { chat_id: dst, from_chat_id: src, message_id: 99 }),
    400,
    'Bad Request: message to copy not found',
  );
  const fwd = result(await call('forwardMessage', { chat_id: dst, from_chat_id: src, message_id: original.message_id }));
  assert.equal(fwd.text, 'to copy');
  assert.ok(fwd.forward_origin);
  const group = result(
    await call('sendMediaGroup', {
      chat_id: chat(),
      media: [
        { type: 'photo', media: 'AgACphoto', caption: '<i>one</i>', parse_mode: 'HTML' },
        { type: 'video', media: 'https://example.com/v.mp4' },
      ],
    }),
  ) as unknown as Array<Record<string, unknown>>;
  assert.equal(group.length, 2);
  assert.equal(group[0]?.caption, 'one');
  assert.equal(group[0]?.media_group_id, group[1]?.media_group_id);
  const edited = result(await call('editMessageText', { chat_id: src, message_id: original.message_id, text: 'edited' }));
  assert.equal(edited.text, 'edited');
  assert.ok(edited.edit_date);
  expectError(
    await call('editMessageText', { chat_id: src, message_id: original.message_id, text: 'edited' }),
    400,
    'Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message',
  );
  assert.equal(result(await call('deleteMessage', { chat_id: src, message_id: original.message_id })), true as unknown);
  expectError(
    await call('deleteMessage', { chat_id: src, message_id: original.message_id }),
    400,
    'Bad Request: message to delete not found',
  );
  assert.deepEqual(
    standIn.calls.map((c) => [c.method, c.status]),
    [
      ['editMessageText', 200],
      ['editMessageText', 400],
      ['deleteMessage', 200],
      ['deleteMessage', 400],
    ],
  );
});

await run('failNext answers 502 then recovers', async () => {
  standIn.configure({ failNext: { status: 502, count: 1 } });
  expectError(await call('sendMessage', { chat_id: chat(), text: 'x' }), 502, 'Bad Gateway');
  result(await call('sendMessage', { chat_id: chat(), text: 'x' }));
  assert.equal(standIn.deliveries.length, 1);
});

await run('jitter moves arrivals: arrival order differs from send order', async () => {
  standIn.configure({ latencyMs: 100, jitterMs: 45 });
  const sent: Array<Promise<Answer>> = [];
  const firedAt: number[] = [];
  for (let i = 0; i < 20; i++) {
    firedAt.push(Date.now());
    sent.push(call('sendMessage', { chat_id: chat(), text: `j${i}` }));
    await sleep(4);
  }
  for (const a of await Promise.all(sent)) result(a);
  const byArrival = [...standIn.deliveries].sort((a, b) => a.at - b.at).map((d) => Number(d.text?.slice(1)));
  assert.notDeepEqual(
    byArrival,
    byArrival.toSorted((a, b) => a - b),
  );
  for (const d of standIn.deliveries) {
    // The inbound leg is 50 ± 45 ms after the request left; allow a little for the trip through fetch.
    const inbound = d.at - (firedAt[Number(d.text?.slice(1))] as number);
    assert.ok(inbound >= 4 && inbound <= 95 + 30, `inbound leg ${inbound.toFixed(1)} ms`);
  }
  assert.deepEqual(standIn.arrivals.map((a) => a.at).sort(), standIn.deliveries.map((d) => d.at).sort());
});

await run('flood penalty: each send arriving during a flood wait lengthens it by floodPenaltyMs', async () => {
  assert.equal((await control('flood', { seconds: 0 })).status, 400);
  assert.equal((await control('flood', {})).status, 400);
  const forced = await control('flood', { seconds: 2 });
  assert.equal(forced.status, 200);
  const { start, until } = forced.json.flood as { start: number; until: number };
  assert.equal(until - start, 2000);
  for (let i = 0; i < 5; i++) expect429(await call('sendMessage', { chat_id: chat(), text: 'x' }), 3);
  result(await call('getMe'));
  assert.equal(((await control('flood')).json.flood as { until: number }).until - start, 2500);
  assert.equal(standIn.floodWait()?.until, start + 2500);
  assert.deepEqual(
    [standIn.stats.floods, standIn.stats.arrivedDuringFlood, standIn.stats.rejected429, standIn.deliveries.length],
    [1, 5, 5, 0],
  );
  assert.ok(standIn.arrivals.every((a) => a.status === 429 && !a.counted));
  // Forcing again while one runs stretches it rather than starting another.
  assert.equal(standIn.forceFlood(3).start, start);
  assert.equal(standIn.stats.floods, 1);
});

await run('sentAfterFloodAnswered counts a send that left after the first 429 came back, not one before', async () => {
  standIn.configure({ latencyMs: 200 });
  standIn.forceFlood(3);
  const first = call('sendMessage', { chat_id: chat(), text: 'first' });
  await sleep(50);
  const before = call('sendMessage', { chat_id: chat(), text: 'already on the wire' });
  expect429(await first, 3);
  const after = call('sendMessage', { chat_id: chat(), text: 'ignored the 429' });
  assert.equal((await before).status, 429);
  assert.equal((await after).status, 429);
  assert.deepEqual([standIn.stats.arrivedDuringFlood, standIn.stats.sentAfterFloodAnswered], [3, 1]);
});

await run('failNext and failEvery with delivered: true record the delivery and answer the error', async () => {
  standIn.configure({ failNext: { status: 502, count: 1, delivered: true } });
  expectError(await call('sendMessage', { chat_id: chat(), text: 'delivered, then 502' }), 502, 'Bad Gateway');
  assert.deepEqual(
    standIn.deliveries.map((d) => d.text),
    ['delivered, then 502'],
  );
  assert.deepEqual([standIn.stats.failedAfterDelivery, standIn.stats.sends], [1, 0]);
  result(await call('sendMessage', { chat_id: chat(), text: 'ok' }));

  // A 429 from failNext starts a flood wait of retryAfter, like a real one.
  standIn.configure({ failNext: { status: 429, count: 1, retryAfter: 2 } });
  expect429(await call('sendMessage', { chat_id: chat(), text: 'x' }), 2);
  expect429(await call('sendMessage', { chat_id: chat(), text: 'x' }), 3);
  assert.deepEqual([standIn.stats.floods, standIn.stats.arrivedDuringFlood], [1, 1]);

  standIn.reset();
  standIn.configure({ failEvery: { status: 500, every: 3, delivered: true } });
  assert.deepEqual((await control('config')).json.failEvery, { status: 500, every: 3, delivered: true });
  const statuses: number[] = [];
  for (let i = 0; i < 6; i++) statuses.push((await call('sendMessage', { chat_id: chat(), text: `e${i}` })).status);
  assert.deepEqual(statuses, [200, 200, 500, 200, 200, 500]);
  assert.equal(standIn.deliveries.length, 6);
  assert.equal(standIn.stats.failedAfterDelivery, 2);
  standIn.configure({ failEvery: { status: 502, every: 2 } });
  statuses.length = 0;
  for (let i = 0; i < 4; i++) statuses.push((await call('sendMessage', { chat_id: chat(), text: `f${i}` })).status);
  assert.deepEqual(statuses, [200, 502, 200, 502]);
  assert.equal(standIn.deliveries.length, 8);
  assert.equal((await control('config', { failEvery: null })).status, 200);
  result(await call('sendMessage', { chat_id: chat(), text: 'off again' }));
  result(await call('sendMessage', { chat_id: chat(), text: 'off again' }));
});

await run('connection cap: 7 concurrent requests of one invocation, 6 in flight; no header, no cap', async () => {
  standIn.configure({ latencyMs: 200 });
  const timed = async (headers: Record<string, string>) => {
    const start = performance.now();
    result(await call('sendMessage', { chat_id: chat(), text: 'capped' }, TOKEN, headers));
    return performance.now() - start;
  };
  const capped = await Promise.all(Array.from({ length: 7 }, () => timed({ [INVOCATION_HEADER]: 'invocation-1' })));
  assert.deepEqual([standIn.stats.maxInFlightPerInvocation, standIn.stats.connectionWaits], [6, 1]);
  capped.sort((a, b) => a - b);
  assert.ok((capped[5] as number) < 380, `six answered in ${capped.map((ms) => ms.toFixed(0)).join(', ')} ms`);
  assert.ok((capped[6] as number) >= 395, `the 7th waited for a connection: ${(capped[6] as number).toFixed(0)} ms`);
  const free = await Promise.all(Array.from({ length: 8 }, () => timed({})));
  assert.ok(Math.max(...free) < 380, `uncapped: ${free.map((ms) => ms.toFixed(0)).join(', ')} ms`);
  assert.deepEqual([standIn.stats.maxInFlightPerInvocation, standIn.stats.connectionWaits], [6, 1]);
});

await run('multipart and form-urlencoded bodies', async () => {
  const [a, b, c] = [chat(), chat(), chat()];
  const boundary = 'grammy0123';
  // The exact layout grammY produces: lower-case headers, no space after the colon, unquoted filename.
  const parts = [
    `--${boundary}\r\ncontent-disposition:form-data;name="chat_id"\r\n\r\n${a}`,
    `\r\n--${boundary}\r\ncontent-disposition:form-data;name="caption"\r\n\r\nmultipart caption`,
    `\r\n--${boundary}\r\ncontent-disposition:form-data;name="photo"\r\n\r\nattach://f1`,
    `\r\n--${boundary}\r\ncontent-disposition:form-data;name="reply_markup"\r\n\r\n{"inline_keyboard":[[{"text":"k","callback_data":"d"}]]}`,
    `\r\n--${boundary}\r\ncontent-disposition:form-data;name="f1";filename=cat.jpg\r\ncontent-type:application/octet-stream\r\n\r\n\u0000\u0001binary\r\n--x`,
    `\r\n--${boundary}--\r\n`,
  ];
  const photo = await fetch(`${base}/bot${TOKEN}/sendPhoto`, {
    method: 'POST',
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    body: parts.join(''),
  });
  const sent = result({ status: photo.status, body: (await photo.json()) as Answer['body'] });
  assert.equal(sent.caption, 'multipart caption');
  assert.ok(Array.isArray(sent.photo));
  assert.deepEqual(sent.reply_markup, { inline_keyboard: [[{ text: 'k', callback_data: 'd' }]] });
  const form = new FormData();
  form.set('chat_id', String(b));
  form.set('text', 'multipart text');
  const multi = await fetch(`${base}/bot${TOKEN}/sendMessage`, { method: 'POST', body: form });
  assert.equal(result({ status: multi.status, body: (await multi.json()) as Answer['body'] }).text, 'multipart text');
  const urlencoded = await fetch(`${base}/bot${TOKEN}/sendMessage`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ chat_id: String(c), text: '[form] & more', allow_paid_broadcast: 'true' }),
  });
  assert.equal(result({ status: urlencoded.status, body: (await urlencoded.json()) as Answer['body'] }).text, '[form] & more');
  const get = await fetch(`${base}/bot${TOKEN}/sendMessage?chat_id=${chat()}&text=query`);
  assert.equal(result({ status: get.status, body: (await get.json()) as Answer['body'] }).text, 'query');
  assert.deepEqual(
    standIn.deliveries.map((d) => [d.method, d.caption ?? d.text, d.paid]),
    [
      ['sendPhoto', 'multipart caption', false],
      ['sendMessage', 'multipart text', false],
      ['sendMessage', '[form] & more', true],
      ['sendMessage', 'query', false],
    ],
  );
});

await run('control endpoints and webhook delivery', async () => {
  const id = chat();
  result(await call('sendMessage', { chat_id: id, text: 'one' }));
  result(await call('sendMessage', { chat_id: chat(), text: 'elsewhere' }));
  const all = await control('deliveries');
  assert.equal((all.json.deliveries as unknown[]).length, 2);
  const mine = await control(`deliveries?chat_id=${id}`);
  const list = mine.json.deliveries as Array<{ seq: number; text: string }>;
  assert.deepEqual(
    list.map((d) => d.text),
    ['one'],
  );
  const after = await control(`deliveries?since_seq=${list[0]?.seq ?? 0}`);
  assert.deepEqual(
    (after.json.deliveries as Array<{ text: string }>).map((d) => d.text),
    ['elsewhere'],
  );
  const stats = await control('stats');
  assert.equal(stats.json.sends, 2);
  assert.deepEqual([stats.json.floods, stats.json.arrivedDuringFlood, stats.json.sentAfterFloodAnswered], [0, 0, 0]);
  assert.equal(((await control('arrivals')).json.arrivals as unknown[]).length, 2);
  assert.deepEqual(stats.json.byMethod, { sendMessage: 2 });
  assert.equal((await control('config', { rateLimit: 1 })).status, 200);
  result(await call('sendMessage', { chat_id: chat(), text: 'a' }));
  assert.equal((await call('sendMessage', { chat_id: chat(), text: 'b' })).status, 429);
  assert.equal((await control('reset', {})).status, 200);
  assert.equal(standIn.deliveries.length, 0);
  assert.equal(standIn.stats.requests, 0);

  assert.equal((await control('updates', { message: { text: 'hi' } })).status, 409);
  const seen: Array<{ secret: string | undefined; update: Record<string, unknown> }> = [];
  const hook = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => (raw += c.toString()));
    req.on('end', () => {
      const secret = req.headers['x-telegram-bot-api-secret-token'];
      seen.push({ secret: typeof secret === 'string' ? secret : undefined, update: JSON.parse(raw) as Record<string, unknown> });
      // A webhook reply: the stand-in must run it as a sendMessage.
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ method: 'sendMessage', chat_id: 4242, text: 'webhook reply' }));
    });
  });
  await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
  const hookUrl = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/telegram`;
  const set = await call('setWebhook', { url: hookUrl, secret_token: 's3cret_-' });
  assert.deepEqual(set.body, { ok: true, result: true, description: 'Webhook was set' });
  assert.equal((result(await call('getWebhookInfo')) as { url: string }).url, hookUrl);
  const pushed = await control('updates', { message: { message_id: 1, text: 'hi', chat: { id: 4242, type: 'private' } } });
  assert.equal(pushed.status, 200);
  assert.equal(pushed.json.status, 200);
  assert.match(String(pushed.json.body), /webhook reply/);
  assert.equal(seen[0]?.secret, 's3cret_-');
  assert.equal(typeof seen[0]?.update.update_id, 'number');
  assert.equal(standIn.deliveries.at(-1)?.text, 'webhook reply');
  hook.closeAllConnections();
  await new Promise<void>((resolve) => hook.close(() => resolve()));
  assert.deepEqual((await call('deleteWebhook')).body, { ok: true, result: true, description: 'Webhook was deleted' });
});

const closing = performance.now();
await standIn.close();
assert.ok(performance.now() - closing < 1000, 'close() must not wait for keep-alive sockets');
console.log('all stand-in checks passed');
