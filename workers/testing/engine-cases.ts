import { expect, it } from 'vitest';
import {
  BATCH_DEADLINE_MS,
  CampaignEngine,
  type CampaignState,
  CLAIM_LEASE_MS,
  emptyUsage,
  type GateFn,
} from '../../durable-objects/campaign/campaign.engine';
import { Ledger, type Recipient, type SqlPort } from '../../durable-objects/campaign/ledger';
import type { SlotRequest } from '../../durable-objects/gate/send-scheduler';
import { encodeRecipients } from '../campaigns/recipients.envelope';

/**
 * The campaign engine's cases over a given SQLite: the workerd test runs them on a Durable Object's
 * storage, the unit test on an in-memory SQLite in Node, so the engine and ledger are checked both ways.
 */

const state = (over: Partial<CampaignState> = {}): CampaignState => ({
  id: crypto.randomUUID(),
  status: 'running',
  ratePerSecond: 10,
  paid: false,
  audience: {},
  scheduledFor: null,
  counters: { total: 5, sent: 0, failed: 0, blocked: 0, unknown: 0 },
  usage: emptyUsage(),
  counted: true,
  cursor: 0,
  exhausted: true,
  batches: 1,
  startedAt: 0,
  finishedAt: null,
  ...over,
});

export const recipients = (n: number, from = 100): Recipient[] => Array.from({ length: n }, (_, i) => ({ id: from + i, lang: null }));
const asked: SlotRequest[] = [];
export const everySlot: GateFn = async (r) => {
  asked.push(r);
  return { times: Array.from({ length: r.count }, (_, i) => 1000 + i * 100), epoch: 3 };
};
const packed = (batch: string, list: Recipient[]) =>
  encodeRecipients({ campaign: crypto.randomUUID(), batch, recipients: list.map((r) => [r.id, r.lang]) });

type WithEngine = <T>(over: Partial<CampaignState>, fn: (engine: CampaignEngine, ledger: Ledger) => Promise<T>) => Promise<T>;

/** Runs `fn` with an engine over a fresh ledger in the SQLite `open` gives, holding batch `b1` of five. */
export function engineOver(open: <T>(use: (sql: SqlPort) => Promise<T>) => Promise<T>): WithEngine {
  return (over, fn) =>
    open(async (sql) => {
      const ledger = new Ledger(sql);
      ledger.addBatch('b1', packed('b1', recipients(5)), 0);
      return fn(new CampaignEngine(ledger, state(over)), ledger);
    });
}

export function engineCases(withEngine: WithEngine): void {
  it('grants as many slots as the sender can use, at its pace, and takes only what it granted or skipped', async () => {
    await withEngine({}, async (engine, ledger) => {
      const reply = await engine.exchange({ batch: 'b1', reports: [], offer: recipients(15), want: 6, done: false }, 1000, everySlot);
      expect(reply.grants.map((g) => g.at)).toEqual([1000, 1100, 1200, 1300, 1400, 1500]);
      expect(reply).toMatchObject({ take: 6, epoch: 3, waitMs: 0 });
      // The campaign's own pace (10/s) goes to the gate with the sender's connections.
      expect(asked.at(-1)).toMatchObject({ count: 6, priority: 'bulk', pace: { key: engine.state.id, spacingMs: 100 } });
      ledger.claim(999, 'other', 1000);
      const again = await engine.exchange(
        {
          batch: 'b1',
          reports: [],
          offer: [{ id: 100, lang: null }, { id: 999, lang: null }, ...recipients(2, 200)],
          want: 1,
          done: false,
        },
        1000,
        everySlot,
      );
      // 100 and 999 are the ledger's already: skipped; 200 granted; 201 left for the next exchange.
      expect(again.grants.map((g) => g.recipient.id)).toEqual([200]);
      expect(again.take).toBe(3);
    });
  });

  it('releases a claim whose send never left, so the sender can offer it again; counts the rest', async () => {
    await withEngine({}, async (engine, ledger) => {
      const [a, b, c] = recipients(3);
      await engine.exchange({ batch: 'b1', reports: [], offer: [a, b, c] as Recipient[], want: 3, done: false }, 0, everySlot);
      await engine.exchange(
        {
          batch: 'b1',
          reports: [
            { id: 100, lang: null, outcome: 'released', reason: 'slot went stale' },
            { id: 101, lang: null, outcome: 'sent' },
            { id: 102, lang: null, outcome: 'unknown', reason: 'HTTP 502' },
          ],
          offer: [a as Recipient],
          want: 1,
          done: false,
        },
        10,
        everySlot,
      );
      expect(ledger.status(100)?.status).toBe('claimed');
      expect(engine.state.counters).toMatchObject({ sent: 1, unknown: 1 });
      // A late or repeated report changes nothing.
      await engine.exchange(
        { batch: 'b1', reports: [{ id: 101, lang: null, outcome: 'sent' }], offer: [], want: 0, done: false },
        20,
        everySlot,
      );
      expect(engine.state.counters.sent).toBe(1);
    });
  });

  it('hands a deferred offer back for later, finishing the batch when the sender is done', async () => {
    await withEngine({}, async (engine, ledger) => {
      const deferred = await engine.exchange(
        { batch: 'b1', reports: [], offer: recipients(3), want: 0, done: true, deferUntil: 9000 },
        20,
        everySlot,
      );
      expect(deferred).toMatchObject({ grants: [], take: 3 });
      expect(ledger.dueReturned(8999, 10)).toEqual([]);
      expect(ledger.dueReturned(9000, 10)).toEqual(recipients(3));
      expect(ledger.batchesInFlight()).toBe(0);
    });
  });

  it('sets a paused campaign offer aside and drops a cancelled one', async () => {
    await withEngine({ status: 'paused' }, async (engine, ledger) => {
      const reply = await engine.exchange({ batch: 'b1', reports: [], offer: recipients(3), want: 6, done: true }, 0, everySlot);
      expect(reply).toMatchObject({ status: 'paused', take: 3, grants: [] });
      expect(ledger.dueReturned(0, 10)).toHaveLength(3);
      expect(ledger.batchesInFlight()).toBe(0);
      expect(engine.apply('cancel', 0)).toEqual({ ok: true });
      expect(ledger.nextReturned()).toBeNull();
      expect(engine.snapshot()).toMatchObject({ status: 'cancelled', pending: 0 });
      expect(engine.apply('resume', 0)).toEqual({ ok: false, reason: 'cannot resume a cancelled campaign' });
    });
  });

  it('counts a claim that never reports as unknown, then completes', async () => {
    await withEngine({ counters: { total: 1, sent: 0, failed: 0, blocked: 0, unknown: 0 } }, async (engine, ledger) => {
      await engine.exchange({ batch: 'b1', reports: [], offer: recipients(1), want: 6, done: true }, 0, everySlot);
      expect(ledger.batchesInFlight()).toBe(0);
      expect(engine.isDone(1000)).toBe(false);
      // No sender is left to report: the object wakes itself when the claim expires.
      expect(engine.nextCheck(1000)).toBe(CLAIM_LEASE_MS + 1);
      expect(engine.isDone(CLAIM_LEASE_MS + 1)).toBe(true);
      expect(engine.state.counters.unknown).toBe(1);
    });
  });

  it('settles a batch that will never report: unclaimed recipients go back, its claims become unknown', async () => {
    await withEngine({}, async (engine, ledger) => {
      await engine.exchange({ batch: 'b1', reports: [], offer: recipients(5), want: 2, done: false }, 0, everySlot);
      ledger.claim(104, 'b2', 0); // claimed by another batch (it was set aside and sent again): not this one's
      expect(engine.nextCheck(10)).toBe(BATCH_DEADLINE_MS + 1);
      // Silent since 0: overdue once the deadline has passed (the object asks with now − deadline).
      expect(ledger.overdueBatches(BATCH_DEADLINE_MS - BATCH_DEADLINE_MS)).toEqual([]);
      expect(ledger.overdueBatches(BATCH_DEADLINE_MS + 1 - BATCH_DEADLINE_MS)).toEqual(['b1']);
      expect(engine.settleBatch('b1', recipients(5), BATCH_DEADLINE_MS + 1)).toBe(true);
      expect(engine.state.counters.unknown).toBe(2);
      expect(ledger.dueReturned(BATCH_DEADLINE_MS + 1, 10).map((r) => r.id)).toEqual([102, 103]);
      expect(ledger.status(104)?.status).toBe('claimed');
      expect(engine.settleBatch('b1', recipients(5), BATCH_DEADLINE_MS + 2)).toBe(false);
    });
  });

  it('waits out a 429 the gate reports', async () => {
    await withEngine({}, async (engine, ledger) => {
      const blocked: GateFn = async () => ({ times: [], epoch: 4, blockedUntil: 61_000 });
      const reply = await engine.exchange({ batch: 'b1', reports: [], offer: recipients(2), want: 2, done: false }, 1000, blocked);
      expect(reply).toMatchObject({ grants: [], take: 0, waitMs: 60_000, blockedUntil: 61_000 });
      expect(ledger.liveClaims()).toBe(0);
    });
  });

  it('sets aside what a delivery releases after another delivery of its message finished the batch, so the campaign waits for it', async () => {
    await withEngine({ counters: { total: 2, sent: 0, failed: 0, blocked: 0, unknown: 0 } }, async (engine, ledger) => {
      const [a, b] = recipients(2);
      // The first delivery is granted both; the second (a redelivered copy) finds them claimed and finishes the batch.
      await engine.exchange({ batch: 'b1', reports: [], offer: [a, b] as Recipient[], want: 2, done: false }, 0, everySlot);
      await engine.exchange({ batch: 'b1', reports: [], offer: [a, b] as Recipient[], want: 2, done: true }, 10, everySlot);
      expect(ledger.batchesInFlight()).toBe(0);
      // The first sends a; b's slot went stale: released, and the gate has nothing for it now.
      const none: GateFn = async () => ({ times: [], epoch: 3, askAgainAt: 5000 });
      const reports = [
        { id: 100, lang: null, outcome: 'sent' as const },
        { id: 101, lang: null, outcome: 'released' as const, reason: 'slot went stale' },
      ];
      await engine.exchange({ batch: 'b1', reports, offer: [b as Recipient], want: 1, done: false }, 20, none);
      expect(ledger.liveClaims()).toBe(0);
      expect(engine.isDone(30)).toBe(false);
      expect(ledger.dueReturned(30, 10)).toEqual([b]);
    });
  });

  it('counts what a sender reports once the gate has answered, beside its claims (one commit with the state)', async () => {
    await withEngine({}, async (engine, ledger) => {
      await engine.exchange({ batch: 'b1', reports: [], offer: recipients(2), want: 2, done: false }, 0, everySlot);
      const whileAsking: number[] = [];
      const watching: GateFn = async (r) => {
        whileAsking.push(engine.state.counters.sent, ledger.status(100)?.status === 'claimed' ? 1 : 0);
        return everySlot(r);
      };
      const reports = [{ id: 100, lang: null, outcome: 'sent' as const }];
      await engine.exchange({ batch: 'b1', reports, offer: recipients(1, 200), want: 1, done: false }, 10, watching);
      // Nothing counted was written before the await: an object reset there loses no counted outcome.
      expect(whileAsking).toEqual([0, 1]);
      expect(engine.state.counters.sent).toBe(1);
      expect(ledger.status(100)?.status).toBe('sent');
    });
  });

  it('claims nothing when the campaign is paused or cancelled while the gate answers: the sender keeps its offer', async () => {
    for (const action of ['pause', 'cancel'] as const)
      await withEngine({}, async (engine, ledger) => {
        const meanwhile: GateFn = async (r) => {
          expect(engine.apply(action, 1000)).toEqual({ ok: true });
          return everySlot(r);
        };
        const reply = await engine.exchange({ batch: 'b1', reports: [], offer: recipients(4), want: 4, done: false }, 1000, meanwhile);
        expect(reply).toMatchObject({ status: action === 'pause' ? 'paused' : 'cancelled', grants: [], take: 0 });
        expect(ledger.liveClaims()).toBe(0);
        expect(engine.snapshot().in_flight).toBe(0);
      });
  });

  it('claims only the recipients the gate slotted, and leaves a slot unused when another exchange claimed its recipient meanwhile', async () => {
    await withEngine({}, async (engine, ledger) => {
      // The gate grants two of four; while it answers, another delivery of the batch claims 101.
      const two: GateFn = async () => {
        ledger.claim(101, 'b1-again', 1000);
        return { times: [1000, 1100], epoch: 3, askAgainAt: 1200 };
      };
      const reply = await engine.exchange({ batch: 'b1', reports: [], offer: recipients(4), want: 4, done: false }, 1000, two);
      expect(reply.grants.map((g) => g.recipient.id)).toEqual([100]);
      expect(reply.take).toBe(2);
      expect(ledger.status(101)?.batch).toBe('b1-again');
      expect(ledger.status(102)).toBeUndefined();
      expect(ledger.liveClaims()).toBe(2);
    });
  });

  it('lets a batch that finished early send what a batch behind lends, each recipient claimed once', async () => {
    await withEngine({}, async (engine, ledger) => {
      const ask = (offer: Recipient[], more: number, extra: object = {}) =>
        engine.exchange({ batch: 'behind', reports: [], offer, more, want: 2, done: false, ...extra }, 0, everySlot);
      const help = (gate: GateFn = everySlot) =>
        engine.exchange({ batch: 'early', reports: [], offer: [], want: 5, done: false, help: true }, 0, gate);
      const helpUntilNothing = async () => {
        while ((await help()).grants.length);
      };
      expect((await ask(recipients(10, 100), 90)).lend).toBeUndefined();
      // Nothing lent yet: the helper asks again in a moment, and the batch behind is asked to lend all
      // but the 12 it sends next itself: 98 - 12.
      expect(await help()).toMatchObject({ grants: [], help: true, waitMs: 50 });
      expect((await ask(recipients(10, 102), 88)).lend).toBe(86);
      await ask(recipients(10, 104), 86, { spare: recipients(86, 114) });
      // The gate slots two of five: those two go out from the far end, the other three wait for the next help.
      const two: GateFn = async (r) => ({ times: [1000, 1100], epoch: 3, askAgainAt: 1200, lanes: r.lanes });
      expect((await help(two)).grants.map((g) => g.recipient.id)).toEqual([199, 198]);
      expect((await help()).grants.map((g) => g.recipient.id)).toEqual([197, 196, 195, 194, 193]);
      expect(ledger.status(199)?.batch).toBe('early');
      // 94 left, 86 of them lent: too few of its own to lend more.
      expect((await ask(recipients(10, 106), 84)).lend).toBeUndefined();
      // A batch with fewer than twice 12 of its own left lends half of them.
      const small = await engine.exchange(
        { batch: 'small', reports: [], offer: recipients(10, 300), more: 10, want: 0, done: false },
        0,
        everySlot,
      );
      expect(small.lend).toBe(10);
      await engine.exchange({ batch: 'small', reports: [], offer: [], want: 0, done: true }, 0, everySlot);
      // The lender reaches what it lent: what the helper claimed is skipped, the rest is its own.
      const far = await ask(recipients(4, 192), 0);
      expect(far.grants.map((g) => g.recipient.id)).toEqual([192]);
      expect(far.take).toBe(4);
      expect(ledger.status(192)?.batch).toBe('behind');
      expect(ledger.status(193)?.batch).toBe('early');
      // The helper sends the rest of the spare (skipping what the lender sent); once no batch has
      // enough left to lend, it finishes.
      await helpUntilNothing();
      expect(ledger.status(114)?.batch).toBe('early');
      await engine.exchange({ batch: 'behind', reports: [], offer: [], want: 0, done: true }, 0, everySlot);
      expect(await help()).toMatchObject({ grants: [], help: false });
    });
  });
}
