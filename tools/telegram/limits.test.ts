/**
 * The Telegram stand-in's limits: sliding windows and buckets with a fake clock, then over HTTP the bot-wide,
 * paid and per-chat limits, flood waits, latency and jitter, the connection cap and injected failures.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { RateLimiter, SlidingWindow } from './buckets.ts';
import { ConnectionCap } from './connections.ts';
import { INVOCATION_HEADER } from './stand-in.ts';
import { type Answer, chat, expect429, expectError, fileStandIn, result, TOKEN } from './testing.ts';

const { standIn, call, control } = await fileStandIn();

/** For the fake-clock checks of the limiter. */
const limits = { rateLimit: 30, paidRateLimit: 1000, perChatPerSecond: 0, perChatBurst: 3 };

test('sliding window: 30 at t, 30 at t+600 ms are refused until 1 s after the first', () => {
  const limiter = new RateLimiter(limits);
  // 100 ms before a whole second: a fixed per-second window would let the second group through at 11_500.
  const t = 10_900;
  for (let i = 0; i < 30; i++) assert.equal(limiter.admit(false, t), 0);
  for (let i = 0; i < 30; i++) assert.equal(limiter.admit(false, t + 600), 1);
  assert.equal(limiter.admit(false, t + 999), 1);
  for (let i = 0; i < 30; i++) assert.equal(limiter.admit(false, t + 1000), 0, `send ${i} at t + 1 s`);
  assert.equal(limiter.admit(false, t + 1000), 1);
});

test('sliding window: a late-decided earlier arrival must fit the windows already counted after it', () => {
  const w = new SlidingWindow(2);
  w.add(1000);
  w.add(1500);
  // (500, 1500] already holds 2, and 900 would fall in it too.
  assert.ok(w.waitMs(900) > 0);
  assert.equal(w.waitMs(2001), 0);
});

test('paid sends count only in the all-sends window, free ones in both', () => {
  const limiter = new RateLimiter({ ...limits, rateLimit: 2, paidRateLimit: 5 });
  for (let i = 0; i < 3; i++) assert.equal(limiter.admit(true, 0), 0);
  assert.equal(limiter.admit(false, 0), 0);
  assert.equal(limiter.admit(false, 0), 0);
  assert.equal(limiter.admit(false, 0), 1, 'free window full');
  assert.equal(limiter.admit(true, 0), 1, 'all-sends window full: 3 paid + 2 free');
});

test('connection cap: FIFO per id, other ids unaffected, idle ids forgotten', async () => {
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

test('bot-wide window: 31 free sends within a second, 30 accepted, the 31st starts a flood wait', async () => {
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

test('paid and free windows; a flood wait stops paid sends too', async () => {
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

test('refused sends still count: a 400 or 403 takes a place in the window', async () => {
  standIn.configure({ rateLimit: 2 });
  const blocked = chat();
  standIn.configure({ blockedChats: [blocked] });
  expectError(await call('sendMessage', { chat_id: blocked, text: 'x' }), 403, 'Forbidden: bot was blocked by the user');
  expectError(await call('sendMessage', { chat_id: chat() }), 400, 'Bad Request: message text is empty');
  expect429(await call('sendMessage', { chat_id: chat(), text: 'x' }), 1);
  assert.equal(standIn.deliveries.length, 0);
});

test('per-chat limit: 4th quick send to one chat is 429', async () => {
  standIn.configure({ rateLimit: 0 });
  const id = chat();
  for (let i = 0; i < 3; i++) result(await call('sendMessage', { chat_id: id, text: `n${i}` }));
  const fourth = await call('sendMessage', { chat_id: id, text: 'n3' });
  assert.equal(fourth.status, 429);
  assert.equal(fourth.body.parameters?.retry_after, 1);
  result(await call('sendMessage', { chat_id: chat(), text: 'other chat is fine' }));
});

test('latency delays answers', async () => {
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

test('failNext answers 502 then recovers', async () => {
  standIn.configure({ failNext: { status: 502, count: 1 } });
  expectError(await call('sendMessage', { chat_id: chat(), text: 'x' }), 502, 'Bad Gateway');
  result(await call('sendMessage', { chat_id: chat(), text: 'x' }));
  assert.equal(standIn.deliveries.length, 1);
});

test('jitter moves arrivals: arrival order differs from send order', async () => {
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

test('flood penalty: each send arriving during a flood wait lengthens it by floodPenaltyMs', async () => {
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

test('sentAfterFloodAnswered counts a send that left after the first 429 came back, not one before', async () => {
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
  // It left once the first answer was read, a moment after that answer was written back.
  assert.ok(standIn.stats.sentAfterFloodAnsweredMaxMs > 0 && standIn.stats.sentAfterFloodAnsweredMaxMs < 200);
});

test('failNext and failEvery with delivered: true record the delivery and answer the error', async () => {
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

test('connection cap: 7 concurrent requests of one invocation, 6 in flight; no header, no cap', async () => {
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
