import { describe, expect, it } from 'vitest';
import { memorySql } from '../../workers/testing/memory-sql';
import { CampaignEngine, type CampaignState, emptyUsage } from './campaign.engine';
import { Ledger, type Recipient } from './ledger';
import { fanOut, type LoaderPorts, load } from './loader';

const campaign = (total: number, ratePerSecond: number): CampaignState => ({
  id: 'c1',
  status: 'running',
  ratePerSecond,
  paid: true,
  audience: {},
  scheduledFor: null,
  counters: { total, sent: 0, failed: 0, blocked: 0, unknown: 0 },
  usage: emptyUsage(),
  counted: false,
  cursor: 0,
  exhausted: false,
  batches: 0,
  startedAt: 0,
  finishedAt: null,
});

/** An audience of ids 1..total in Postgres and a queue that records each `sendBatch` (or fails the ones asked to). */
function ports(total: number, failing = new Set<number>(), counted = total) {
  const calls: number[][] = [];
  /** Pages read and batches sent, in order. */
  const events: string[] = [];
  let call = 0;
  const port: LoaderPorts = {
    count: async () => counted,
    page: async (cursor, limit) => {
      events.push('page');
      const recipients: Recipient[] = [];
      for (let id = cursor + 1; id <= Math.min(total, cursor + limit); id++) recipients.push({ id, lang: null });
      return { recipients, cursor: recipients.at(-1)?.id ?? cursor };
    },
    // 16 bytes a recipient, as a Telegram id and a language code pack.
    pack: (_batch, recipients) => new Uint8Array(recipients.length * 16),
    enqueue: async (messages) => {
      if (failing.has(++call)) throw new Error('queue unavailable');
      calls.push(messages.map((m) => m.byteLength / 16));
      events.push('send');
    },
    save: () => {},
  };
  return { port, calls, events };
}

describe('campaign loader (Node, in-memory SQLite)', () => {
  it('gives every sender a message, within the size bounds', () => {
    expect(fanOut(30, 900)).toEqual({ senders: 1, size: 900 });
    expect(fanOut(1000, 20_000)).toEqual({ senders: 20, size: 1000 });
    expect(fanOut(1000, 500)).toEqual({ senders: 20, size: 100 });
  });

  it('splits a large audience into rounds of equal messages, so the last round keeps every sender busy', async () => {
    const ledger = new Ledger(memorySql());
    const engine = new CampaignEngine(ledger, campaign(60_000, 5000));
    const { port, calls } = ports(60_000);
    const rounds: number[][] = [];
    while (!engine.state.exhausted) {
      calls.length = 0;
      await load(engine, ledger, port, () => 0);
      rounds.push(calls.flat());
      // The round's senders take every recipient: their messages drain, and the loader may send more.
      for (let n = 1; n <= engine.state.batches; n++) ledger.drainBatch(`c1:${n}`);
    }
    // 24 senders: two rounds of 24 messages of 1,250, not 24 of 2,000 and then 6 alone.
    expect(rounds.filter((r) => r.length)).toEqual([Array(24).fill(1250), Array(24).fill(1250)]);
  });

  it('packs a step before sending any of it, then sends it back to back in sendBatch calls of at most 240 KB', async () => {
    const ledger = new Ledger(memorySql());
    const engine = new CampaignEngine(ledger, campaign(48_000, 5000));
    const { port, calls, events } = ports(48_000);
    await load(engine, ledger, port, () => 0);
    // 24 messages of 2,000 (32 KB each): every page read first, then 7 to a call.
    expect(events).toEqual([...Array(24).fill('page'), ...Array(4).fill('send')]);
    expect(calls.map((c) => c.length)).toEqual([7, 7, 7, 3]);
    // A full last page does not say the audience ended: the next step's empty page will.
    expect(engine.state).toMatchObject({ batches: 24, cursor: 48_000, exhausted: false });
  });

  it('forgets the messages a failed sendBatch never sent, and sends their recipients again under new ids', async () => {
    const ledger = new Ledger(memorySql());
    const engine = new CampaignEngine(ledger, campaign(48_000, 5000));
    const { port, calls } = ports(48_000, new Set([2]));
    await expect(load(engine, ledger, port, () => 0)).rejects.toThrow('queue unavailable');
    // The first call's 7 left; the other 17 are not in the ledger, and the cursor is where the 7 end.
    // The ids of the 17 are spent (the failed call may have delivered some of them after all).
    expect(engine.state).toMatchObject({ batches: 24, cursor: 14_000, exhausted: false });
    expect(ledger.batchesUndrained()).toBe(7);
    await load(engine, ledger, port, () => 0);
    expect(calls.flat().reduce((a, b) => a + b, 0)).toBe(48_000);
    expect(engine.state).toMatchObject({ batches: 41, cursor: 48_000 });
    expect(ledger.batchesUndrained()).toBe(24);
    expect(ledger.batchesInFlight()).toBe(24);
    expect(ledger.openBatch('c1:8')).toBeUndefined();
    expect(ledger.openBatch('c1:25')).toBeDefined();
  });

  it('makes the total what the audience turned out to be: users who joined or left while it was read', async () => {
    for (const [counted, paged] of [
      [10, 12],
      [10, 8],
    ] as const) {
      const ledger = new Ledger(memorySql());
      const engine = new CampaignEngine(ledger, campaign(0, 30));
      const { port } = ports(paged, new Set(), counted);
      while (!engine.state.exhausted) {
        await load(engine, ledger, port, () => 0);
        for (let n = 1; n <= engine.state.batches; n++) ledger.drainBatch(`c1:${n}`);
      }
      expect(engine.state.counters.total).toBe(paged);
      expect(engine.snapshot().pending).toBe(paged);
    }
  });

  it('counts recipients set aside and sent again once', async () => {
    const ledger = new Ledger(memorySql());
    const engine = new CampaignEngine(ledger, campaign(0, 30));
    const { port } = ports(5);
    await load(engine, ledger, port, () => 0);
    ledger.finishBatch('c1:1');
    ledger.putReturned({ id: 3, lang: null }, 0);
    await load(engine, ledger, port, () => 0);
    expect(engine.state).toMatchObject({ exhausted: true, batches: 2, loaded: 5 });
    expect(engine.state.counters.total).toBe(5);
  });
});
