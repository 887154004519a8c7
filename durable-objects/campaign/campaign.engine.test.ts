import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { botGate } from '../gate/gate.do';
import type { SlotGrant, SlotRequest } from '../gate/send-scheduler';
import { CampaignEngine, type CampaignState, CLAIM_LEASE_MS } from './campaign.engine';
import { Ledger } from './ledger';

const state = (over: Partial<CampaignState> = {}): CampaignState => ({
  id: crypto.randomUUID(),
  status: 'running',
  ratePerSecond: 10,
  paid: false,
  audience: {},
  scheduledFor: null,
  variants: [],
  counters: { total: 5, sent: 0, failed: 0, blocked: 0, unknown: 0 },
  usage: { do_requests: 0, queue_operations: 0, db_round_trips: 0 },
  counted: true,
  cursor: 0,
  exhausted: true,
  batches: 1,
  nextOwnSlot: 0,
  startedAt: 0,
  finishedAt: null,
  ...over,
});

const recipients = (n: number) => Array.from({ length: n }, (_, i) => ({ id: 100 + i, lang: null }));
const everySlot = async (r: SlotRequest): Promise<SlotGrant> => ({
  times: Array.from({ length: r.count }, (_, i) => r.notBefore + i * r.spacingMs),
});

/** Runs `fn` with an engine over a real ledger in a fresh object's SQLite. */
async function withEngine<T>(over: Partial<CampaignState>, fn: (engine: CampaignEngine, ledger: Ledger) => Promise<T>): Promise<T> {
  const stub = env.CAMPAIGN.get(env.CAMPAIGN.newUniqueId());
  return runInDurableObject(stub, async (_instance, ctx) => {
    const ledger = new Ledger(ctx.storage.sql);
    ledger.addBatch('b1');
    return fn(new CampaignEngine(ledger, state(over)), ledger);
  });
}

describe('campaign engine', () => {
  it('grants one horizon at its pace and takes only what it granted or skipped', async () => {
    await withEngine({}, async (engine, ledger) => {
      const reply = await engine.exchange({ batch: 'b1', reports: [], offer: recipients(15), done: false }, 1000, everySlot);
      expect(reply.grants.map((g) => g.at)).toEqual([0, 100, 200, 300, 400, 500, 600, 700, 800, 900]);
      expect(reply.take).toBe(10);
      ledger.claim(999, 'other', 1000);
      const again = await engine.exchange(
        {
          batch: 'b1',
          reports: [],
          offer: [
            { id: 100, lang: null },
            { id: 999, lang: null },
          ],
          done: false,
        },
        1000,
        everySlot,
      );
      expect(again).toMatchObject({ grants: [], take: 2 });
    });
  });

  it('puts retried recipients aside and hands a deferred offer back for later', async () => {
    await withEngine({}, async (engine, ledger) => {
      const a = { id: 100, lang: null };
      const b = { id: 101, lang: null };
      await engine.exchange({ batch: 'b1', reports: [], offer: [a, b], done: false }, 0, everySlot);
      await engine.exchange(
        {
          batch: 'b1',
          reports: [
            { id: a.id, lang: null, outcome: 'retry', retryAt: 5000 },
            { id: b.id, lang: null, outcome: 'sent' },
          ],
          offer: [],
          done: false,
        },
        10,
        everySlot,
      );
      expect(ledger.status(a.id)).toBeUndefined();
      expect(ledger.dueReturned(4999, 10)).toEqual([]);
      expect(ledger.dueReturned(5000, 10)).toEqual([a]);
      expect(engine.state.counters.sent).toBe(1);
      const deferred = await engine.exchange(
        { batch: 'b1', reports: [], offer: recipients(5).slice(2), done: false, deferUntil: 9000 },
        20,
        everySlot,
      );
      expect(deferred).toMatchObject({ grants: [], take: 3 });
      expect(ledger.returnedCount()).toEqual({ count: 4, nextDue: 5000 });
    });
  });

  it('sets a paused campaign offer aside and drops a cancelled one', async () => {
    await withEngine({ status: 'paused' }, async (engine, ledger) => {
      const reply = await engine.exchange({ batch: 'b1', reports: [], offer: recipients(3), done: true }, 0, everySlot);
      expect(reply).toMatchObject({ status: 'paused', take: 3 });
      expect(ledger.returnedCount().count).toBe(3);
      expect(ledger.batchesInFlight()).toBe(0);
      expect(engine.apply('cancel', 0)).toEqual({ ok: true });
      expect(ledger.returnedCount().count).toBe(0);
      expect(engine.snapshot()).toMatchObject({ status: 'cancelled', pending: 0 });
      expect(engine.apply('resume', 0)).toEqual({ ok: false, reason: 'cannot resume a cancelled campaign' });
    });
  });

  it('counts a claim that never reports as unknown, then completes', async () => {
    await withEngine({ counters: { total: 1, sent: 0, failed: 0, blocked: 0, unknown: 0 } }, async (engine, ledger) => {
      await engine.exchange({ batch: 'b1', reports: [], offer: recipients(1), done: true }, 0, everySlot);
      expect(ledger.batchesInFlight()).toBe(0);
      expect(engine.isDone(1000)).toBe(false);
      // No sender is left to report: the object wakes itself when the claim expires.
      expect(engine.nextCheck(1000)).toBe(CLAIM_LEASE_MS + 1);
      expect(engine.isDone(CLAIM_LEASE_MS + 1)).toBe(true);
      expect(engine.state.counters.unknown).toBe(1);
    });
  });

  it('waits out a 429 the gate reports', async () => {
    await withEngine({}, async (engine) => {
      const blocked = async (): Promise<SlotGrant> => ({ times: [], blockedUntil: 61_000 });
      const reply = await engine.exchange({ batch: 'b1', reports: [], offer: recipients(2), done: false }, 1000, blocked);
      expect(reply).toMatchObject({ grants: [], take: 0, waitMs: 60_000 });
    });
  });
});

describe('bot gate', () => {
  it('keeps a 429 block across calls and grants nothing until it ends', async () => {
    const gate = botGate(env);
    const until = Date.now() + 60_000;
    await gate.block(until);
    expect(await gate.blockedUntil()).toBe(until);
    expect(await gate.acquire({ count: 1, paid: false, notBefore: 0, spacingMs: 0 })).toEqual({ times: [], blockedUntil: until });
  });
});
