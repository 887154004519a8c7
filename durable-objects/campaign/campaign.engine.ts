import { type Action, type CampaignStatus, transition } from '../../workers/campaigns/lifecycle';
import type { SlotGrant, SlotRequest } from '../gate/send-scheduler';
import type { Ledger, Outcome, Recipient } from './ledger';

interface Audience {
  language_codes?: string[];
}

interface Counters {
  total: number;
  sent: number;
  failed: number;
  blocked: number;
  unknown: number;
}

/** Platform operations the campaign cost, to price it (Queues and Durable Objects bill per operation). */
export interface Usage {
  /** Requests to Durable Objects: sender exchanges and content reads, gate requests, alarms. */
  do_requests: number;
  /** Queue operations: a write, a read and a delete per message of recipients (each under 64 KB). */
  queue_operations: number;
  /** Round trips to Postgres: the loader's, the row mirror's and the senders'. */
  db_round_trips: number;
  /** SQLite rows the campaign's object read (its ledger), billed per row. */
  sqlite_rows_read: number;
  /** SQLite rows the campaign's object wrote (its ledger and its state), billed per row. */
  sqlite_rows_written: number;
}

/** Everything a campaign's object keeps besides its ledger and its content. */
export interface CampaignState {
  id: string;
  status: CampaignStatus;
  ratePerSecond: number;
  paid: boolean;
  audience: Audience;
  /** Epoch ms of a scheduled start, or null. */
  scheduledFor: number | null;
  counters: Counters;
  usage: Usage;
  /** Total known: the audience was counted when the campaign started. */
  counted: boolean;
  /** Last `users.id` the loader enqueued. */
  cursor: number;
  /**
   * Recipients the loader has read from the audience (recipients set aside and sent again not
   * counted twice). The audience is read live, so once it is exhausted this is the total. Absent in
   * an object counted before it was kept.
   */
  loaded?: number;
  /** The loader reached the end of the audience. */
  exhausted: boolean;
  /** Batches enqueued so far (names the next one). */
  batches: number;
  startedAt: number | null;
  finishedAt: number | null;
  /** Correlation id of the request that started (or scheduled, or resumed) it: its sends log it. */
  correlationId?: string;
}

/** `released`: the send never left (a void or stale slot, a 429); the sender keeps the recipient. */
export type SendOutcome = Outcome | 'released';

/** What a sender reports for one recipient it was granted. */
export interface SendReport {
  id: number;
  lang: string | null;
  outcome: SendOutcome;
  reason?: string;
}

export interface ExchangeRequest {
  /** The queue message of recipients this sender works on. */
  batch: string;
  /** Outcomes of sends granted earlier. */
  reports: SendReport[];
  /** The next recipients of the batch not yet handed back: the campaign takes a prefix of them. */
  offer: Recipient[];
  /** How many more the sender holds after `offer` (it sends a short offer, not all it has). Default 0 */
  more?: number;
  /** Slots the sender asks for. */
  want: number;
  /** When each of the sender's connections is free (epoch ms); see `SlotRequest.lanes`. */
  lanes?: number[];
  /** How long a send keeps a connection, in ms. */
  holdMs?: number;
  /** The sender has nothing left to offer and has reported every send: the batch is finished. */
  done: boolean;
  /** The sender gives the whole offer back, to be sent again from this epoch ms (a long 429, its time is up). */
  deferUntil?: number;
  /** Round trips to Postgres the sender made for this batch since its last exchange. */
  dbRoundTrips?: number;
  /**
   * The sender has sent all of its own and asks to send recipients other batches spared (`offer` is
   * empty). A sender's own recipients may go out with its connections only; at the end of a
   * campaign, these let the batches finished early help the ones behind.
   */
  help?: boolean;
  /**
   * Recipients from the far end of the batch, lent on the campaign's `lend`: a helper may send them.
   * They stay the sender's too; whichever claims one first sends it, the other skips it.
   */
  spare?: Recipient[];
}

export interface ExchangeReply {
  status: CampaignStatus;
  /** Sends the sender may make, each not before its `at` (epoch ms). */
  grants: { recipient: Recipient; at: number }[];
  /** The gate's epoch the grants belong to: a 429 seen since voids them. */
  epoch: number;
  /** While the bot waits out a 429: until when (epoch ms). */
  blockedUntil?: number;
  /** When each of the sender's connections is free after these grants (epoch ms). */
  lanes?: number[];
  /** How many recipients from the front of `offer` the campaign took (granted, skipped or set aside). */
  take: number;
  /** When fewer slots than wanted were granted: how long until asking again can get more, in ms. */
  waitMs: number;
  /** Senders have finished theirs and wait to help: lend this many from the far end of the batch. */
  lend?: number;
  /** To a helper: false once no batch has recipients to spare (it finishes). */
  help?: boolean;
}

/** The gate as the engine sees it. */
export type GateFn = (r: SlotRequest) => Promise<SlotGrant>;

export interface Snapshot extends Counters {
  id: string;
  usage: Usage;
  status: CampaignStatus;
  pending: number;
  /** Recipients claimed whose send has not been reported yet (on the wire, or about to be). */
  in_flight: number;
  rate_per_second: number;
  paid_broadcast: boolean;
  scheduled_at: string | null;
  started_at: string | null;
  finished_at: string | null;
  correlation_id: string | null;
}

/**
 * A claim not reported within this long is counted `unknown` (its sender died; it may have sent).
 * Longer than the longest a send can take: a slot is at most a second ahead, a call times out after
 * 10 s, and its outcome goes with the sender's next exchange.
 */
export const CLAIM_LEASE_MS = 120_000;
/**
 * A batch whose sender has shown no sign of life for this long is settled: its message is lost (a
 * consumer invocation lasts at most 15 minutes; a message out of retries goes to the dead letters).
 */
export const BATCH_DEADLINE_MS = 20 * 60_000;
/** A batch not heard from for this long (its sender died, its message waits for a retry) lends nothing, in ms. */
const LEFT_MEMORY_MS = 2_000;
/**
 * A batch with fewer than this left is not asked to lend any: its own connections finish it soon. A
 * lender keeps this many of its next ones and lends the rest (half, when fewer than twice this are
 * left): lending half at a time left the last batch with up to ~40 to send alone at its 6
 * connections' ~100/s, a tail of 300–400 ms in some campaigns.
 */
const LEND_MIN = 12;
/** A helper that found nothing to send asks again after this long, in ms (a lender's next exchange). */
const HELP_POLL_MS = 50;
/** Helpers asking lately (ms) make the batches with recipients to spare lend them. */
const HELPERS_MEMORY_MS = 500;
/** How often an exchange refreshes its batch's sign of life (a row write). */
const TOUCH_EVERY_MS = 60_000;

export const emptyUsage = (): Usage => ({
  do_requests: 0,
  queue_operations: 0,
  db_round_trips: 0,
  sqlite_rows_read: 0,
  sqlite_rows_written: 0,
});

/**
 * A campaign's logic over its ledger and a state it is handed: transitions, counters and the
 * exchange with senders. No I/O besides the ledger and the gate function passed in; the Durable
 * Object persists the state after each call.
 */
export class CampaignEngine {
  readonly #ledger: Ledger;
  readonly #touched = new Map<string, number>();
  /** Recipients each sending batch still holds, and when it said so (its last exchange). */
  readonly #remaining = new Map<string, { left: number; at: number }>();
  /**
   * Recipients lent by each batch for helpers (a hint kept in memory: the lender still holds them,
   * so nothing is lost with it), the furthest from the lender's next ones last.
   */
  readonly #spare = new Map<string, Recipient[]>();
  /** How many each batch lent in all: its far end, which it reaches last, is no longer its to lend. */
  readonly #lent = new Map<string, number>();
  /** When a helper last asked for recipients to send (epoch ms). */
  #helpAskedAt = Number.NEGATIVE_INFINITY;
  state: CampaignState;

  constructor(ledger: Ledger, state: CampaignState) {
    this.#ledger = ledger;
    this.state = state;
    this.state.usage = { ...emptyUsage(), ...state.usage };
  }

  apply(action: Action, now: number): { ok: true } | { ok: false; reason: string } {
    const next = transition(this.state.status, action, this.state.scheduledFor, now);
    if (!next.ok) return next;
    this.state.status = next.status;
    if (next.status === 'running') this.state.startedAt ??= now;
    if (next.status === 'cancelled') {
      this.state.finishedAt = now;
      this.#ledger.clearReturned();
    }
    return { ok: true };
  }

  /**
   * One exchange with a sender. What it counts (the outcomes reported, claims found expired) is
   * written after its one await, the gate's answer, beside its claims: the object saves the state
   * right after, with no await between, so the ledger's outcomes and the counters commit together.
   */
  async exchange(req: ExchangeRequest, now: number, gate: GateFn): Promise<ExchangeReply> {
    this.#release(req, now);
    const lost: number[] = [];
    try {
      return await this.#trade(req, now, gate, lost);
    } finally {
      for (const r of req.reports) if (r.outcome !== 'released') this.#settle(r.id, r.outcome, r.reason);
      for (const id of lost) this.#settleLost(id);
    }
  }

  async #trade(req: ExchangeRequest, now: number, gate: GateFn, lost: number[]): Promise<ExchangeReply> {
    const s = this.state;
    s.usage.do_requests++;
    s.usage.db_round_trips += req.dbRoundTrips ?? 0;
    this.#touch(req.batch, now);
    const idle = { grants: [], epoch: 0, waitMs: 0 };
    if (req.deferUntil !== undefined && s.status !== 'cancelled') {
      this.#setAside(req.offer, req.deferUntil);
      if (req.done) this.#finishBatch(req.batch);
      return { status: s.status, ...idle, take: req.offer.length };
    }
    if (s.status !== 'running') {
      // Paused: the rest waits in `returned` for the resume; cancelled or finished: dropped.
      if (s.status === 'paused' || s.status === 'scheduled') this.#setAside(req.offer, now);
      if (req.done || req.offer.length > 0) this.#finishBatch(req.batch);
      return { status: s.status, ...idle, take: req.offer.length };
    }

    if (req.spare?.length) {
      this.#spare.set(req.batch, [...req.spare, ...(this.#spare.get(req.batch) ?? [])]);
      this.#lent.set(req.batch, (this.#lent.get(req.batch) ?? 0) + req.spare.length);
    }
    // A helper's own are all sent: it is not racing the others.
    if (req.help) this.#remaining.delete(req.batch);
    else this.#remaining.set(req.batch, { left: req.offer.length + (req.more ?? 0), at: now });
    const { picked, scanned, unpick } = req.help ? this.#pickSpare(req.want) : { ...this.#pick(req, now, lost), unpick: undefined };
    let grant: SlotGrant = { times: [], epoch: 0 };
    if (picked.length) {
      s.usage.do_requests++;
      grant = await gate({
        count: picked.length,
        paid: s.paid,
        priority: 'bulk',
        lanes: req.lanes,
        holdMs: req.holdMs,
        pace: { key: s.id, spacingMs: 1000 / s.ratePerSecond },
        requester: req.batch,
      });
    }
    // Paused or cancelled while the gate answered: nothing is claimed and the slots go unused; the
    // sender keeps the whole offer and hands it back, to be set aside (paused) or dropped.
    if (s.status !== 'running') {
      unpick?.(picked);
      return { status: s.status, ...idle, take: 0 };
    }
    // Claimed only once slotted (no claim to undo when the gate grants fewer). An exchange that ran
    // while this one waited for the gate (a redelivered message) may have claimed one first: its slot
    // goes unused, and the recipient is the other's.
    const grants: ExchangeReply['grants'] = [];
    for (const [i, at] of grant.times.entries()) {
      const r = picked[i] as Recipient;
      if (this.#ledger.claim(r.id, req.batch, now)) grants.push({ recipient: r, at });
    }
    // The offer is taken up to its first picked recipient that got no slot.
    const firstUngranted = picked[grant.times.length];
    unpick?.(picked.slice(grant.times.length));
    const take = firstUngranted && !req.help ? req.offer.indexOf(firstUngranted) : scanned;
    const drained = take === req.offer.length && !req.more;
    if (req.done && drained) this.#finishBatch(req.batch);
    else if (drained) this.#ledger.drainBatch(req.batch);
    const until = grant.blockedUntil ?? grant.askAgainAt;
    const waitMs = grants.length < req.want && until !== undefined ? Math.max(1, Math.ceil(until - now)) : 0;
    const reply: ExchangeReply = { status: s.status, grants, epoch: grant.epoch, take, waitMs, ...this.#helping(req, picked, now) };
    if (grant.blockedUntil !== undefined) reply.blockedUntil = grant.blockedUntil;
    if (grant.lanes) reply.lanes = grant.lanes;
    return reply;
  }

  /**
   * Helping at the end of a campaign. A helper that found nothing to send is told to ask again while
   * some batch still has enough left to lend (the lenders hear of it at their next exchange), and to
   * finish once none has. A batch is asked to lend what it has left and has not lent yet, but for
   * the next `LEND_MIN`, while helpers ask, or are about to (some batch is nearly done), and nothing
   * it lent is left to send. Only once the audience is all loaded: before that, a sender that
   * finished makes room for the next message.
   */
  #helping(req: ExchangeRequest, picked: Recipient[], now: number): Partial<Pick<ExchangeReply, 'lend' | 'help' | 'waitMs'>> {
    if (!this.state.exhausted) return req.help ? { help: false } : {};
    if (req.help) {
      if (picked.length) return {};
      this.#helpAskedAt = now;
      return this.#anyBatchLeft((left) => left >= LEND_MIN, now) ? { help: true, waitMs: HELP_POLL_MS } : { help: false };
    }
    const unlent = req.offer.length + (req.more ?? 0) - (this.#lent.get(req.batch) ?? 0);
    if (unlent < LEND_MIN || this.#spare.get(req.batch)?.length) return {};
    const helpers = now - this.#helpAskedAt <= HELPERS_MEMORY_MS || this.#anyBatchLeft((left) => left < LEND_MIN, now);
    return helpers ? { lend: Math.max(Math.floor(unlent / 2), unlent - LEND_MIN) } : {};
  }

  /** Whether a batch heard from lately has a number left that passes `test`; forgets the silent ones. */
  #anyBatchLeft(test: (left: number) => boolean, now: number): boolean {
    for (const [batch, r] of this.#remaining) {
      if (now - r.at > LEFT_MEMORY_MS) this.#remaining.delete(batch);
      else if (test(r.left)) return true;
    }
    return false;
  }

  /**
   * Recipients one batch lent (the one that lent the most), from its far end, skipping those the
   * ledger has; `unpick` puts back the ones the gate gave no slot.
   */
  #pickSpare(want: number): { picked: Recipient[]; scanned: number; unpick: (rest: Recipient[]) => void } {
    const picked: Recipient[] = [];
    let spare: Recipient[] = [];
    for (const lent of this.#spare.values()) if (lent.length > spare.length) spare = lent;
    while (picked.length < want && spare.length) {
      const r = spare.pop() as Recipient;
      if (!this.#ledger.status(r.id)) picked.push(r);
    }
    return { picked, scanned: 0, unpick: (rest) => spare.push(...rest.reverse()) };
  }

  /** Walks the offer in order: skips recipients the ledger already has, picks the rest up to `want`. */
  #pick(req: ExchangeRequest, now: number, lost: number[]): { picked: Recipient[]; scanned: number } {
    const picked: Recipient[] = [];
    let scanned = 0;
    for (const r of req.offer) {
      if (picked.length >= req.want) break;
      scanned++;
      const entry = this.#ledger.status(r.id);
      if (!entry) picked.push(r);
      else if (entry.status === 'claimed' && now - entry.claimedAt > CLAIM_LEASE_MS) lost.push(r.id);
    }
    return { picked, scanned };
  }

  #finishBatch(batch: string): boolean {
    this.#remaining.delete(batch);
    this.#spare.delete(batch);
    this.#lent.delete(batch);
    return this.#ledger.finishBatch(batch);
  }

  /**
   * A queue message of recipients that will never report (dead-lettered, or silent past its
   * deadline): whoever of it the ledger does not have goes back to be sent, a claim of it becomes
   * `unknown` (its send may have left), and the batch is done. False when it was done already.
   */
  settleBatch(batch: string, recipients: Recipient[], now: number): boolean {
    if (!this.#finishBatch(batch)) return false;
    for (const r of recipients) {
      const entry = this.#ledger.status(r.id);
      if (!entry) {
        if (this.state.status !== 'cancelled') this.#ledger.putReturned(r, now);
      } else if (entry.status === 'claimed' && entry.batch === batch) this.#settleLost(r.id);
    }
    return true;
  }

  /** True when a running campaign has nothing left: loaded all, nothing in flight, waiting or claimed. */
  isDone(now: number): boolean {
    const s = this.state;
    if (s.status !== 'running' || !s.exhausted || this.#ledger.batchesInFlight() > 0 || this.#ledger.nextReturned() !== null) return false;
    for (const id of this.#ledger.staleClaims(now - CLAIM_LEASE_MS)) this.#settleLost(id);
    return this.#ledger.liveClaims() === 0;
  }

  /**
   * When a running campaign that is not done should look again by itself: when recipients set aside
   * come due, when its oldest claim expires with no batch left whose sender would report, or when a
   * batch's deadline passes.
   */
  nextCheck(now: number): number | null {
    if (this.state.status !== 'running') return null;
    const times: number[] = [];
    const nextDue = this.#ledger.nextReturned();
    if (nextDue !== null && nextDue > now) times.push(nextDue);
    const oldestBatch = this.#ledger.oldestOpenBatch();
    if (oldestBatch !== null) times.push(Math.max(now, oldestBatch + BATCH_DEADLINE_MS) + 1);
    else {
      const oldest = this.#ledger.oldestClaim();
      if (oldest !== null) times.push(Math.max(now, oldest + CLAIM_LEASE_MS) + 1);
    }
    return times.length ? Math.min(...times) : null;
  }

  complete(now: number): void {
    this.state.status = 'completed';
    this.state.finishedAt = now;
  }

  /** Adds the ledger's SQLite rows since the last call to the usage (and one write for the state). */
  meter(stateWrites: number): void {
    const rows = this.#ledger.takeRowCounts();
    this.state.usage.sqlite_rows_read += rows.read;
    this.state.usage.sqlite_rows_written += rows.written + stateWrites;
  }

  snapshot(): Snapshot {
    const s = this.state;
    const { total, sent, failed, blocked, unknown } = s.counters;
    const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
    return {
      id: s.id,
      status: s.status,
      usage: { ...s.usage },
      total,
      sent,
      failed,
      blocked,
      unknown,
      pending: s.status === 'cancelled' ? 0 : Math.max(0, total - sent - failed - blocked - unknown),
      in_flight: this.#ledger.liveClaims(),
      rate_per_second: s.ratePerSecond,
      paid_broadcast: s.paid,
      scheduled_at: iso(s.scheduledFor),
      started_at: iso(s.startedAt),
      finished_at: iso(s.finishedAt),
      correlation_id: s.correlationId ?? null,
    };
  }

  /**
   * Releases the claims whose sends never left, for the sender to offer again. A batch already
   * reported done (another delivery of its message finished it) no longer keeps the campaign from
   * completing: what it releases is also set aside, so the loader sends it if this sender does not.
   */
  #release(req: ExchangeRequest, now: number): void {
    const released = req.reports.filter((r) => r.outcome === 'released');
    if (!released.length) return;
    const orphaned = this.state.status !== 'cancelled' && this.#ledger.batchDone(req.batch);
    for (const r of released) {
      this.#ledger.release(r.id);
      if (orphaned && !this.#ledger.status(r.id)) this.#ledger.putReturned({ id: r.id, lang: r.lang }, now);
    }
  }

  #setAside(offer: Recipient[], notBefore: number): void {
    for (const r of offer) if (!this.#ledger.status(r.id)) this.#ledger.putReturned(r, notBefore);
  }

  #touch(batch: string, now: number): void {
    if (now - (this.#touched.get(batch) ?? 0) < TOUCH_EVERY_MS) return;
    this.#touched.set(batch, now);
    this.#ledger.touchBatch(batch, now);
  }

  #settleLost(id: number): void {
    this.#settle(id, 'unknown', 'claimed by a sender that never reported');
  }

  #settle(id: number, outcome: Outcome, reason: string | undefined): void {
    if (this.#ledger.settle(id, outcome, reason)) this.state.counters[outcome]++;
  }
}
