import { evictDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { botGate } from './gate.do';
import { BULK_HORIZON_MS, DEFAULT_PACE, HORIZON_MS, SendScheduler, type SlotRequest } from './send-scheduler';

const limits = { freeRate: 30, paidRate: 1000 };
const free: SlotRequest = { count: 100, paid: false, priority: 'transactional' };
/** One pace for both limits, 0.96: the timings below sit on its grid of 1.042 ms. */
const EVEN = { ...DEFAULT_PACE, paidTarget: DEFAULT_PACE.target };
const fresh = (now = 0, pace = EVEN) => new SendScheduler(limits, pace, { now: now - HORIZON_MS, epoch: 0, blockedUntil: 0 });
const inWindow = (times: number[], from: number) => times.filter((t) => t >= from && t < from + 1000).length;

describe('SendScheduler', () => {
  it('paces below each limit by its headroom, and grants only a short way ahead', () => {
    const s = fresh(0, DEFAULT_PACE);
    const { times } = s.acquire(0, free);
    // 0.96 × 30/s: a slot every 34.73 ms, 29 of them within the second ahead; each on the grid of the
    // all-sends spacing (1.031 ms), so one spacing may be that much shorter or longer than the next.
    expect(times).toHaveLength(29);
    for (let i = 1; i < times.length; i++)
      expect(Math.abs((times[i] as number) - (times[i - 1] as number) - 1000 / 28.8)).toBeLessThan(1.031);
    expect(((times.at(-1) as number) - (times[0] as number)) / (times.length - 1)).toBeCloseTo(1000 / 28.8, 1);
    const bulk = fresh(0, DEFAULT_PACE).acquire(0, { count: 1000, paid: true, priority: 'bulk' });
    expect(bulk.times.at(-1)).toBeLessThanOrEqual(BULK_HORIZON_MS);
    expect(bulk.times).toHaveLength(243); // a slot every 1.031 ms (0.97 × 1000/s) within 250 ms
    expect(bulk.askAgainAt).toBeGreaterThan(0);
  });

  it('leaves each limit the headroom its jitter needs: no 31st in 1,038 ms at 30/s, no 1,001st in 1,030 ms paid', () => {
    const s = fresh(0, DEFAULT_PACE);
    const ordinary: number[] = [];
    const paid: number[] = [];
    for (let now = 0; now < 5000; now += 20) {
      ordinary.push(...s.acquire(now, { count: 5, paid: false, priority: 'transactional' }).times);
      paid.push(...s.acquire(now, { count: 100, paid: true, priority: 'bulk' }).times);
    }
    expect(ordinary.length).toBeGreaterThan(140);
    expect(paid.length).toBeGreaterThan(4500);
    // ±15 ms of jitter and a send up to 8 ms late can bring 1,038 ms of ordinary slots into one of
    // Telegram's seconds; only jitter matters at 1,000/s (a late send or two is not a 1,001st there).
    for (let i = 0; i + 30 < ordinary.length; i++) expect((ordinary[i + 30] as number) - (ordinary[i] as number)).toBeGreaterThan(1038);
    const all = [...ordinary, ...paid].sort((a, b) => a - b);
    for (let i = 0; i + 1000 < all.length; i++) expect((all[i + 1000] as number) - (all[i] as number)).toBeGreaterThan(1030);
  });

  it('keeps any second to the paced count, whoever asks and however often', () => {
    const s = fresh();
    const all: number[] = [];
    for (let now = 0; now < 10_000; now += 50) {
      all.push(...s.acquire(now, { count: 6, paid: false, priority: 'bulk' }).times);
      all.push(...s.acquire(now, { count: 1, paid: false, priority: 'transactional' }).times);
    }
    all.sort((a, b) => a - b);
    // A sliding second (any start, not just whole seconds) never holds more than 29 of the 30 allowed.
    for (const t of all) expect(inWindow(all, t)).toBeLessThanOrEqual(29);
    expect(all.length).toBeGreaterThanOrEqual(287);
  });

  it('grants a sender far from the gate slots past its first free connection, not nothing again and again', () => {
    // Its grants take 150 ms to come back, so its connections are free from 300 ms on: past the
    // broadcast horizon counted from now.
    const lanes = Array(6).fill(300);
    const grant = fresh().acquire(0, { count: 40, paid: true, priority: 'bulk', lanes, holdMs: 60 });
    expect(grant.times.length).toBeGreaterThan(0);
    expect(grant.times[0]).toBeGreaterThanOrEqual(300);
    expect(grant.times.at(-1)).toBeLessThanOrEqual(300 + BULK_HORIZON_MS / 2);
    // Close by, nothing changes: slots end at the horizon counted from now.
    const near = fresh().acquire(0, { count: 40, paid: true, priority: 'bulk', lanes: Array(6).fill(20), holdMs: 60 });
    expect(near.times.at(-1)).toBeLessThanOrEqual(BULK_HORIZON_MS);
  });

  it('a fresh scheduler (an evicted gate) grants nothing within the first horizon, in a new epoch', () => {
    const s = new SendScheduler(limits, DEFAULT_PACE, { now: 5000, epoch: 7, blockedUntil: 0 });
    expect(s.acquire(5000, { count: 1, paid: false, priority: 'transactional' })).toMatchObject({ epoch: 8, times: [] });
    const grant = s.acquire(5010, { count: 2, paid: false, priority: 'transactional' });
    expect(grant.epoch).toBe(8);
    expect(grant.times).toHaveLength(1);
    expect(grant.times[0]).toBeGreaterThanOrEqual(6000);
    expect(grant.times[0]).toBeLessThan(6001.042);
  });

  it('a 429 voids the epoch, stops every grant until it ends and cuts the pace once per flood wait', () => {
    const s = fresh();
    const before = s.acquire(0, { count: 1, paid: true, priority: 'bulk' }).epoch;
    const first = s.block(100, 2000);
    expect(first).toMatchObject({ epoch: before + 1, blockedUntil: 2000, pace: 0.96 * 0.9, lastFloodAt: 100 });
    // Sends already on the wire report the same wait: it grows, the epoch and the pace stay.
    expect(s.block(150, 2100)).toMatchObject({ epoch: before + 1, blockedUntil: 2100, pace: 0.96 * 0.9 });
    expect(s.acquire(1000, { count: 1, paid: true, priority: 'bulk' })).toEqual({ times: [], epoch: before + 1, blockedUntil: 2100 });
    // On the grid of the cut pace's spacing (1.158 ms).
    expect(s.acquire(2100, { count: 1, paid: true, priority: 'bulk' }).times).toEqual([2100.612]);
  });

  it('climbs back to the target while Telegram stays quiet', () => {
    const s = fresh();
    s.block(0, 1000);
    expect(s.state(1000 + DEFAULT_PACE.quietMs).pace).toBeCloseTo(0.864, 3);
    // +0.02 of the limit per quiet second: 0.9 after 1.8 s more, the target after 4.8 s.
    expect(s.state(1000 + DEFAULT_PACE.quietMs + 1_800).pace).toBeCloseTo(0.9, 3);
    expect(s.state(1000 + DEFAULT_PACE.quietMs + 60_000).pace).toBe(0.96);
    // Never below the floor, however many floods in a row.
    for (let i = 0; i < 20; i++) s.block(100_000 + i * 2000, 100_000 + i * 2000 + 1000);
    expect(s.state(140_000).pace).toBe(DEFAULT_PACE.floor);
  });

  it('cuts both paces on a 429 and climbs each back to its own target', () => {
    const s = fresh(0, DEFAULT_PACE);
    expect(s.state(0)).toMatchObject({ pace: 0.96, paidPace: 0.97 });
    expect(s.block(0, 1000)).toMatchObject({ pace: 0.96 * 0.9, paidPace: 0.97 * 0.9 });
    // At 0.873 of 1,000/s: on the grid of 1.146 ms.
    expect(s.acquire(1000, { count: 2, paid: true, priority: 'bulk' }).times).toEqual([1000.458, 1001.604]);
    expect(s.state(1000 + DEFAULT_PACE.quietMs + 4_000)).toMatchObject({ pace: 0.944, paidPace: 0.953 });
    expect(s.state(1000 + DEFAULT_PACE.quietMs + 60_000)).toMatchObject({ pace: 0.96, paidPace: 0.97 });
  });

  it('keeps the paces a 429 cut when it follows an evicted scheduler, until Telegram has been quiet', () => {
    const before = fresh(0, DEFAULT_PACE);
    const cut = before.block(0, 70_000);
    // Evicted during the 70 s wait; the next one starts from what was stored.
    const after = new SendScheduler(limits, DEFAULT_PACE, { now: 30_000, ...cut });
    expect(after.state(70_000)).toMatchObject({ pace: 0.96 * 0.9, paidPace: 0.97 * 0.9, lastFloodAt: 0 });
    expect(after.state(70_000 + DEFAULT_PACE.quietMs + 4_000)).toMatchObject({ pace: 0.944, paidPace: 0.953 });
    // Stored long before (hours of quiet since): the targets again.
    expect(new SendScheduler(limits, DEFAULT_PACE, { now: 10_000_000, ...cut }).state(10_000_000)).toMatchObject({
      pace: 0.96,
      paidPace: 0.97,
    });
  });

  it('stores the cut paces with the block: the gate evicted during a flood wait resumes at them', async () => {
    const gate = botGate(env);
    await gate.block(Date.now() + 1_000);
    await evictDurableObject(gate);
    expect(await gate.stats()).toMatchObject({ pace: 0.96 * 0.9, paidPace: 0.97 * 0.9 });
  });

  it('gives a paid send only the all-sends spacing, and keeps a caller to its own pace', () => {
    const paid = fresh().acquire(0, { count: 5000, paid: true, priority: 'transactional' }).times;
    expect(paid).toHaveLength(960); // a slot every 1.042 ms within the second ahead
    const s = fresh();
    const pace = { key: 'campaign', spacingMs: 100 };
    // 100 ms rounded up to the grid of the bot's spacing (96 × 1.042 ms).
    expect(s.acquire(0, { count: 3, paid: true, priority: 'bulk', pace }).times).toEqual([0, 100.032, 200.064]);
    // Another sender of the same campaign fits between: never closer than 100 ms to the campaign's slots.
    expect(s.acquire(0, { count: 3, paid: true, priority: 'bulk', pace }).times).toEqual([]);
    expect(s.acquire(151, { count: 2, paid: true, priority: 'bulk', pace }).times).toEqual([300.096, 400.128]);
  });

  it('keeps a campaign to its own pace exactly, though each of its slots is rounded up to the grid', () => {
    const s = fresh();
    const pace = { key: 'campaign', spacingMs: 10 }; // 100/s on a grid of 1.042 ms
    const times: number[] = [];
    for (let now = 0; now < 3000; now += 50) times.push(...s.acquire(now, { count: 10, paid: true, priority: 'bulk', pace }).times);
    // Rounding each slot up from the one before would give 96/s (10.42 ms apart).
    expect(inWindow(times, 1000)).toBe(100);
    for (let i = 1; i < times.length; i++) expect((times[i] as number) - (times[i - 1] as number)).toBeGreaterThan(10 - 1.042);
  });

  it('interleaves senders by their connections: each is granted only what it can send, the others fill in', () => {
    const s = fresh();
    // One connection held 50 ms by each send: 5 slots within the 250 ms ahead, each at the first
    // moment of the grid (a spacing of 1.042 ms) when the connection is free.
    const a = s.acquire(0, { count: 10, paid: true, priority: 'bulk', lanes: [0], holdMs: 50 });
    expect(a.times).toEqual([0, 50.016, 100.032, 150.048, 200.064]);
    expect(a.lanes).toEqual([250.064]);
    // A second sender gets the moments between, each a paced spacing (1.042 ms) from the first's.
    const b = s.acquire(0, { count: 3, paid: true, priority: 'bulk', lanes: [0, 0, 0], holdMs: 50 });
    expect(b.times).toEqual([1.042, 2.084, 3.126]);
  });

  it('leaves no sliver between slots: senders whose connections free up at odd moments keep the pace', () => {
    const s = fresh();
    // 20 senders of 6 connections, each send holding one 58.3 ms, each asking every 10 ms for slots
    // its connections can take (as campaign senders do), from moments that fall between slots.
    const senders = Array.from({ length: 20 }, (_, i) => ({ lanes: Array.from({ length: 6 }, (_, j) => i * 3.7 + j * 9.1) }));
    const granted: number[] = [];
    for (let now = 0; now < 6000; now += 10)
      for (const [i, sender] of senders.entries()) {
        const lanes = sender.lanes.map((free) => Math.max(free, now + 7.3));
        const grant = s.acquire(now, { count: 20, paid: true, priority: 'bulk', lanes, holdMs: 58.3, requester: String(i) });
        granted.push(...grant.times);
        sender.lanes = grant.lanes ?? lanes;
      }
    // 0.96 × 1,000/s over the 5 s from 500 ms: 4,800 slots, all of them granted.
    expect(inWindow(granted, 500) + granted.filter((t) => t >= 1500 && t < 5500).length).toBeGreaterThanOrEqual(4799);
  });
});
