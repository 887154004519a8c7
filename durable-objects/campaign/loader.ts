import type { CampaignEngine } from './campaign.engine';
import type { Ledger, Recipient } from './ledger';

/** What the loader needs from outside its object: the audience in Postgres and the broadcast queue. */
export interface LoaderPorts {
  /** Active users of the audience. */
  count(): Promise<number>;
  /** The next `limit` recipients after `cursor` (users.id, keyset) and the cursor of the last one. */
  page(cursor: number, limit: number): Promise<{ recipients: Recipient[]; cursor: number }>;
  /** Packs a queue message of recipients. */
  pack(batch: string, recipients: Recipient[]): Uint8Array;
  /** Sends packed messages in one `sendBatch`. */
  enqueue(messages: Uint8Array[]): Promise<void>;
  /** After each step, so a crash never repeats a page. */
  save(): void;
}

/**
 * Sends one sender makes per second: 6 connections (a Worker invocation's cap) at about 100 ms a
 * call to Telegram from Cloudflare, with margin. Sizes the fan-out, not the pace.
 */
const SENDER_RATE = 50;
/**
 * Senders one campaign keeps at once at most: enough for 1,000/s (20 at 50/s each) with a margin,
 * leaving the consumer's `max_concurrency` (50) room for other campaigns. Measured locally, where one
 * workerd runs every sender: 50 at once thrash it (timers fire 100 ms late, every slot goes stale),
 * 20 do not.
 */
const MAX_SENDERS = 24;
/** Recipients per queue message: at most ~25 KB packed (one 64 KB queue operation unit). */
const MAX_RECIPIENTS = 2000;
const MIN_RECIPIENTS = 100;
/** `sendBatch` takes 256 KB at most: messages per call, leaving room for the envelope. */
const BATCH_BYTES = 240_000;

/**
 * How a campaign fans out: enough senders at once to reach its rate with 6 connections each, and
 * messages small enough that each of them gets one, large enough to keep queue operations few.
 */
function fanOut(rate: number, total: number): { senders: number; size: number } {
  const senders = Math.min(MAX_SENDERS, Math.max(1, Math.ceil(rate / SENDER_RATE)));
  return { senders, size: Math.min(MAX_RECIPIENTS, Math.max(MIN_RECIPIENTS, Math.ceil(total / senders))) };
}

/**
 * The loader: while the campaign runs, keep one message of recipients per sender it needs out —
 * recipients set aside earlier first, then the next pages of the audience — recording each message
 * (and what it holds) in the ledger before it is sent.
 */
export async function load(engine: CampaignEngine, ledger: Ledger, ports: LoaderPorts, now: () => number): Promise<void> {
  const s = engine.state;
  if (!s.counted) {
    s.counters.total = await ports.count();
    s.usage.db_round_trips++;
    s.counted = true;
    ports.save();
  }
  const { senders, size } = fanOut(s.ratePerSecond, s.counters.total);
  for (;;) {
    const room = senders - ledger.batchesUndrained();
    if (s.status !== 'running' || room <= 0) return;
    const group: { batch: string; packed: Uint8Array; due: Recipient[] }[] = [];
    let bytes = 0;
    let cursor = s.cursor;
    let exhausted = s.exhausted;
    const add = (recipients: Recipient[], due: Recipient[]) => {
      const batch = `${s.id}:${s.batches + group.length + 1}`;
      const packed = ports.pack(batch, recipients);
      group.push({ batch, packed, due });
      bytes += packed.byteLength;
    };
    const due = ledger.dueReturned(now(), size);
    if (due.length) add(due, due);
    while (group.length < room && bytes < BATCH_BYTES - 30_000 && !exhausted) {
      const page = await ports.page(cursor, size);
      s.usage.db_round_trips++;
      if (page.recipients.length < size) exhausted = true;
      if (!page.recipients.length) break;
      cursor = page.cursor;
      add(page.recipients, []);
    }
    if (!group.length) {
      s.exhausted = exhausted;
      ports.save();
      return;
    }
    // Recorded before they are sent, so a sender that finishes one at once finds it.
    for (const g of group) ledger.addBatch(g.batch, g.packed, now());
    try {
      await ports.enqueue(group.map((g) => g.packed));
    } catch (err) {
      for (const g of group) ledger.finishBatch(g.batch);
      throw err;
    }
    s.batches += group.length;
    s.usage.queue_operations += 3 * group.length;
    s.cursor = cursor;
    s.exhausted = exhausted;
    for (const g of group) for (const r of g.due) ledger.takeReturned(r.id);
    ports.save();
  }
}
