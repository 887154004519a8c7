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
/** Recipients per queue message: at most ~32 KB packed (one 64 KB queue operation unit). */
const MAX_RECIPIENTS = 2000;
const MIN_RECIPIENTS = 100;
/** `sendBatch` takes 256 KB at most: messages per call, leaving room for the envelope. */
const BATCH_BYTES = 240_000;

/**
 * How a campaign fans out: enough senders at once to reach its rate with 6 connections each, and
 * messages small enough that each of them gets one, large enough to keep queue operations few. An
 * audience larger than one round of full messages is split into rounds of equal messages: full ones
 * and then the remainder would end the campaign on a last round of a few senders, each sending a
 * full message at its own rate while the others' connections stay idle.
 */
export function fanOut(rate: number, total: number): { senders: number; size: number } {
  const senders = Math.min(MAX_SENDERS, Math.max(1, Math.ceil(rate / SENDER_RATE)));
  const rounds = Math.max(1, Math.ceil(total / (senders * MAX_RECIPIENTS)));
  return { senders, size: Math.min(MAX_RECIPIENTS, Math.max(MIN_RECIPIENTS, Math.ceil(total / (senders * rounds)))) };
}

/** A message of recipients on its way out, and where the audience stands once it is sent. */
interface Outgoing {
  batch: string;
  packed: Uint8Array;
  /** How many recipients it holds. */
  recipients: number;
  /** Recipients set aside earlier that this message carries. */
  due: Recipient[];
  cursor: number;
  exhausted: boolean;
}

/**
 * The loader: while the campaign runs, keep one message of recipients per sender it needs out —
 * recipients set aside earlier first, then the next pages of the audience — recording each message
 * (and what it holds) in the ledger before it is sent. A step packs every message it may send before
 * sending any, then sends them back to back (as few `sendBatch` calls as fit): its senders start
 * together, so they can finish together.
 */
export async function load(engine: CampaignEngine, ledger: Ledger, ports: LoaderPorts, now: () => number): Promise<void> {
  const s = engine.state;
  if (!s.counted) {
    s.counters.total = await ports.count();
    s.usage.db_round_trips++;
    s.counted = true;
    s.loaded = 0;
    ports.save();
  }
  const { senders, size } = fanOut(s.ratePerSecond, s.counters.total);
  for (;;) {
    const room = senders - ledger.batchesUndrained();
    if (s.status !== 'running' || room <= 0) return;
    const out = await pack(engine, ledger, ports, { room, size, now: now() });
    if (!out.length) {
      keepTotal(engine);
      ports.save();
      return;
    }
    // Recorded before they are sent, so a sender that finishes one at once finds it.
    for (const m of out) ledger.addBatch(m.batch, m.packed, now());
    let sent = 0;
    for (const group of sendBatches(out)) {
      try {
        await ports.enqueue(group.map((m) => m.packed));
      } catch (err) {
        // These and the ones after them are taken as never sent: gone from the ledger, their
        // recipients paged (or handed out) again under new ids. Never the same ids: a sendBatch that
        // failed may still have delivered, and a message under a reused id would hold other recipients
        // than the ledger's record of it.
        for (const m of out.slice(sent)) ledger.dropBatch(m.batch);
        s.batches += out.length - sent;
        ports.save();
        throw err;
      }
      const last = group.at(-1) as Outgoing;
      sent += group.length;
      s.batches += group.length;
      s.usage.queue_operations += 3 * group.length;
      s.cursor = last.cursor;
      s.exhausted = last.exhausted;
      for (const m of group) {
        for (const r of m.due) ledger.takeReturned(r.id);
        if (s.loaded !== undefined) s.loaded += m.recipients - m.due.length;
      }
      keepTotal(engine);
      ports.save();
    }
  }
}

/**
 * The total as the audience turned out: users who joined after it was counted are paged too, users
 * who left before their page are not, so once the audience is exhausted the total is what was loaded
 * (and while it is read, never less), and the counters add up to it.
 */
function keepTotal(engine: CampaignEngine): void {
  const { state: s } = engine;
  if (s.loaded === undefined) return;
  s.counters.total = s.exhausted ? s.loaded : Math.max(s.counters.total, s.loaded);
}

/** Packs up to `room` messages: recipients due back first, then the next pages of the audience. */
async function pack(
  engine: CampaignEngine,
  ledger: Ledger,
  ports: LoaderPorts,
  { room, size, now }: { room: number; size: number; now: number },
): Promise<Outgoing[]> {
  const s = engine.state;
  const out: Outgoing[] = [];
  let cursor = s.cursor;
  let exhausted = s.exhausted;
  const add = (recipients: Recipient[], due: Recipient[]) => {
    const batch = `${s.id}:${s.batches + out.length + 1}`;
    out.push({ batch, packed: ports.pack(batch, recipients), recipients: recipients.length, due, cursor, exhausted });
  };
  const due = ledger.dueReturned(now, size);
  if (due.length) add(due, due);
  while (out.length < room && !exhausted) {
    const page = await ports.page(cursor, size);
    s.usage.db_round_trips++;
    if (page.recipients.length < size) exhausted = true;
    if (!page.recipients.length) break;
    cursor = page.cursor;
    add(page.recipients, []);
  }
  // An empty page ends the audience too: once the last message is sent, or now if there is none.
  const last = out.at(-1);
  if (last) last.exhausted = exhausted;
  else s.exhausted = exhausted;
  return out;
}

/** Messages split into `sendBatch` calls of at most `BATCH_BYTES`. */
function sendBatches(out: Outgoing[]): Outgoing[][] {
  const groups: Outgoing[][] = [];
  let bytes = BATCH_BYTES;
  for (const m of out) {
    if (bytes + m.packed.byteLength > BATCH_BYTES) {
      groups.push([]);
      bytes = 0;
    }
    groups.at(-1)?.push(m);
    bytes += m.packed.byteLength;
  }
  return groups;
}
