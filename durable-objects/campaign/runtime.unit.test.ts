import { describe, expect, it } from 'vitest';
import { memorySql } from '../../workers/testing/memory-sql';
import type { Snapshot } from './campaign.engine';
import { type CampaignHost, CampaignRuntime } from './runtime';

/** A host over memory; `mirror` holds each write until `land` lets it through, and records what landed. */
function heldHost() {
  const kv = new Map<string, unknown>();
  const held: (() => void)[] = [];
  const landed: Snapshot['status'][] = [];
  const background: Promise<unknown>[] = [];
  let count = (_n: number) => {};
  const counted = new Promise<number>((resolve) => {
    count = resolve;
  });
  const host: CampaignHost = {
    kv: {
      get: <T>(key: string) => structuredClone(kv.get(key)) as T | undefined,
      put: (key, value) => kv.set(key, structuredClone(value)),
      delete: (key) => kv.delete(key),
    },
    sql: memorySql(),
    alarm: { get: async () => null, set: async () => {} },
    background: (work) => background.push(work),
    gate: async () => ({ times: [], epoch: 0 }),
    outside: () => ({
      count: () => counted,
      page: async () => ({ recipients: [], cursor: 0 }),
      pack: () => new Uint8Array(),
      enqueue: async () => {},
    }),
    mirror: (snapshot) =>
      new Promise<void>((resolve) =>
        held.push(() => {
          landed.push(snapshot.status);
          resolve();
        }),
      ),
    editCards: async (watchers) => ({ kept: watchers, behind: false, edits: 0 }),
  };
  return { host, held, landed, background, count };
}

describe('campaign runtime (Node, in-memory host)', () => {
  it('writes its row one write at a time, so the last to land is the latest state', async () => {
    const { host, held, landed, background, count } = heldHost();
    const runtime = new CampaignRuntime(host);
    runtime.init({ id: 'c1', ratePerSecond: 30, paid: false, audience: {}, scheduledFor: null, variants: [] });
    // Start: the row is written `running`; meanwhile the pump finds nobody and completes the campaign.
    const acted = runtime.act('start', undefined);
    // Lets everything the fakes resolved run (they answer at once, except the held writes and the count).
    const turns = async () => {
      for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 0));
    };
    await turns();
    expect(held).toHaveLength(1);
    count(0);
    await turns();
    expect(runtime.snapshot()?.status).toBe('completed');
    // Writes in flight may land in any order: let the latest land first each time.
    while (held.length) {
      held.pop()?.();
      await turns();
    }
    await acted;
    await Promise.all(background);
    expect(landed.at(-1)).toBe('completed');
  });
});
