import { describe, expect, it } from 'vitest';
import { HORIZON_MS, SendScheduler } from './send-scheduler';

const limits = { freeRate: 30, paidRate: 1000 };
const sends = (times: number[], from: number, to: number) => times.filter((t) => t >= from && t < to).length;

describe('SendScheduler', () => {
  it('spaces ordinary sends at the free rate and never grants past the horizon', () => {
    const s = new SendScheduler(limits);
    const { times } = s.acquire(0, { count: 100, paid: false, notBefore: 0, spacingMs: 0 });
    expect(times.length).toBe(30); // 0, 33.334, … 966.7 ms; 1000.02 is past the horizon
    expect(times.at(-1)).toBeLessThanOrEqual(HORIZON_MS);
    for (let i = 1; i < times.length; i++) expect((times[i] as number) - (times[i - 1] as number)).toBeCloseTo(1000 / 30, 2);
  });

  it('shares one budget between callers: two campaigns together stay at the limit', () => {
    const s = new SendScheduler(limits);
    const all: number[] = [];
    for (let now = 0; now < 10_000; now += 250) {
      all.push(...s.acquire(now, { count: 50, paid: false, notBefore: 0, spacingMs: 0 }).times);
      all.push(...s.acquire(now, { count: 50, paid: false, notBefore: 0, spacingMs: 0 }).times);
    }
    for (let second = 0; second < 10; second++) expect(sends(all, second * 1000, (second + 1) * 1000)).toBeLessThanOrEqual(30);
    expect(sends(all, 0, 10_000)).toBeGreaterThanOrEqual(299);
  });

  it('lets paid sends go at the paid rate and keeps a campaign to its own pace', () => {
    const s = new SendScheduler(limits);
    const paid = s.acquire(0, { count: 5000, paid: true, notBefore: 0, spacingMs: 0 }).times;
    expect(paid.length).toBe(1001); // 0, 1, … 1000 ms
    const slow = new SendScheduler(limits).acquire(0, { count: 100, paid: true, notBefore: 500, spacingMs: 100 }).times;
    expect(slow).toEqual([500, 600, 700, 800, 900, 1000]);
  });

  it('grants nothing while blocked by a 429, then resumes by itself', () => {
    const s = new SendScheduler(limits);
    s.block(5000);
    expect(s.acquire(1000, { count: 10, paid: false, notBefore: 0, spacingMs: 0 })).toEqual({ times: [], blockedUntil: 5000 });
    const after = s.acquire(5000, { count: 10, paid: false, notBefore: 0, spacingMs: 0 }).times;
    expect(after[0]).toBe(5000);
  });
});
