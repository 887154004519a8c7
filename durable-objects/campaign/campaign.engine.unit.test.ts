import { describe, expect, it } from 'vitest';
import { engineCases, engineOver } from '../../workers/testing/engine-cases';
import { memorySql } from '../../workers/testing/memory-sql';
import { Ledger } from './ledger';

describe('campaign engine (Node, in-memory SQLite)', () => {
  engineCases(engineOver((use) => use(memorySql())));
});

describe('ledger (Node, in-memory SQLite)', () => {
  it('claims a recipient once, keeps a settled claim, and releases only a live one', () => {
    const ledger = new Ledger(memorySql());
    ledger.claim(1, 'b1', 10);
    expect(ledger.status(1)).toEqual({ status: 'claimed', claimedAt: 10, batch: 'b1' });
    expect(ledger.liveClaims()).toBe(1);
    expect(ledger.settle(1, 'sent', undefined)).toBe(true);
    expect(ledger.settle(1, 'unknown', 'late')).toBe(false);
    ledger.release(1);
    expect(ledger.status(1)?.status).toBe('sent');
    expect(ledger.liveClaims()).toBe(0);
  });

  it('keeps its count of live claims without reading them again, equal to what a fresh count finds', () => {
    const sql = memorySql();
    const ledger = new Ledger(sql);
    ledger.claim(1, 'b1', 10);
    expect(ledger.liveClaims()).toBe(1);
    for (const id of [2, 3, 4]) ledger.claim(id, 'b1', 20);
    ledger.settle(2, 'sent', undefined);
    ledger.settle(2, 'unknown', 'repeated report');
    ledger.release(3);
    ledger.release(3);
    ledger.takeRowCounts();
    expect(ledger.liveClaims()).toBe(2);
    expect(ledger.takeRowCounts().read).toBe(0);
    expect(new Ledger(sql).liveClaims()).toBe(2);
  });

  it('hands returned recipients back in due order, and each batch is added once', () => {
    const ledger = new Ledger(memorySql());
    ledger.putReturned({ id: 7, lang: 'ru' }, 500);
    ledger.putReturned({ id: 8, lang: null }, 100);
    expect(ledger.nextReturned()).toBe(100);
    expect(ledger.dueReturned(100, 10)).toEqual([{ id: 8, lang: null }]);
    ledger.takeReturned(8);
    expect(ledger.dueReturned(1000, 10)).toEqual([{ id: 7, lang: 'ru' }]);
    expect(ledger.addBatch('b1', new Uint8Array([1, 2, 3]), 0)).toBe(true);
    expect(ledger.addBatch('b1', new Uint8Array([4]), 0)).toBe(false);
    expect(ledger.openBatch('b1')).toEqual(new Uint8Array([1, 2, 3]));
    expect(ledger.batchesInFlight()).toBe(1);
    expect(ledger.finishBatch('b1')).toBe(true);
    expect(ledger.batchesInFlight()).toBe(0);
  });
});
