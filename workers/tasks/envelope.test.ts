import { describe, expect, it } from 'vitest';
import { decodeBatch, type Envelope, encodeBatch, MAX_ENVELOPES_PER_MESSAGE, MAX_MESSAGE_BYTES, packMessages } from './envelope';

const envelope = (i: number, args: unknown = { i }): Envelope => ({
  id: crypto.randomUUID(),
  name: 'ping_db',
  args,
  attempt: 1,
  correlation_id: 'c',
  enqueued_at: 1_700_000_000_000 + i,
});

describe('task envelopes on the queue', () => {
  it('round-trips a batch through msgpack', () => {
    const tasks = [envelope(1), envelope(2, { nested: { list: [1, 'two', null] } })];
    expect(decodeBatch(encodeBatch(tasks))).toEqual({ ok: true, tasks });
    expect(decodeBatch(encodeBatch(tasks).buffer)).toMatchObject({ ok: true });
  });

  it('refuses bodies that are not a valid batch, naming what is wrong', () => {
    expect(decodeBatch('text')).toEqual({ ok: false, reason: 'body is not bytes' });
    expect(decodeBatch(new Uint8Array([0xc1]))).toMatchObject({ ok: false, reason: expect.stringMatching(/^not msgpack|invalid batch/) });
    const missingId = encodeBatch([{ ...envelope(1), id: 'nope' }]);
    expect(decodeBatch(missingId)).toMatchObject({ ok: false, reason: expect.stringContaining('tasks.0.id') });
  });

  it('packs 1,000 envelopes into 10 messages of 100', () => {
    const bodies = packMessages(Array.from({ length: 1000 }, (_, i) => envelope(i)));
    expect(bodies).toHaveLength(1000 / MAX_ENVELOPES_PER_MESSAGE);
    expect(bodies.map((b) => (decodeBatch(b) as { tasks: Envelope[] }).tasks.length)).toEqual(Array(10).fill(100));
  });

  it('splits by size, and sends an envelope too large for any message without its arguments (they are in its row)', () => {
    const big = 'x'.repeat(20 * 1024);
    const bodies = packMessages([
      ...Array.from({ length: 7 }, (_, i) => envelope(i, { big })),
      envelope(99, { huge: 'y'.repeat(70 * 1024) }),
    ]);
    expect(bodies.every((b) => b.byteLength <= MAX_MESSAGE_BYTES)).toBe(true);
    expect(bodies.length).toBe(4); // two 20 KB envelopes fit under 60 KB, three do not; the huge one joins the last
    const last = (decodeBatch(bodies.at(-1) as Uint8Array) as { tasks: Envelope[] }).tasks.at(-1);
    expect(last).toMatchObject({ args_in_row: true });
    expect(last && 'args' in last).toBe(false);
  });
});
