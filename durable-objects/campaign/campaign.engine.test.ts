import { runInDurableObject } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { engineCases, engineOver, everySlot, recipients } from '../../workers/testing/engine-cases';
import { botGate } from '../gate/gate.do';

/** The engine over a fresh object's SQLite (the unit test runs the same cases in Node). */
const withEngine = engineOver((use) => runInDurableObject(env.CAMPAIGN.get(env.CAMPAIGN.newUniqueId()), (_o, ctx) => use(ctx.storage.sql)));

describe('campaign engine', () => {
  engineCases(withEngine);

  it('reads a bounded number of ledger rows per recipient, whatever the ledger holds', async () => {
    const perRecipient = async (size: number) =>
      withEngine({ ratePerSecond: 1000 }, async (engine, ledger) => {
        for (let i = 0; i < size; i += 500) {
          for (const r of recipients(500, 10_000 + i)) ledger.claim(r.id, 'old', 0);
          for (const r of recipients(500, 10_000 + i)) ledger.settle(r.id, 'sent', undefined);
        }
        ledger.takeRowCounts();
        const list = recipients(60, 1_000_000);
        for (let i = 0; i < list.length; i += 6) {
          await engine.exchange({ batch: 'b1', reports: [], offer: list.slice(i), want: 6, done: false }, i, everySlot);
          engine.isDone(i);
          engine.nextCheck(i);
        }
        return ledger.takeRowCounts().read / list.length;
      });
    expect(await perRecipient(20_000)).toBe(await perRecipient(500));
  });
});

describe('bot gate', () => {
  it('keeps a 429 block across calls and grants nothing until it ends', async () => {
    const gate = botGate(env);
    const until = Date.now() + 60_000;
    const state = await gate.block(until);
    expect((await gate.stats()).blockedUntil).toBe(until);
    expect(await gate.acquire({ count: 1, paid: false, priority: 'transactional' })).toEqual({
      times: [],
      epoch: state.epoch,
      blockedUntil: until,
    });
  });
});
