import type { Variant } from '../../workers/campaigns/content';
import type { SlotGrant, SlotRequest } from '../gate/send-scheduler';
import { HORIZON_MS } from '../gate/send-scheduler';
import { type Action, type CampaignStatus, isFinished, transition } from './campaign.state';
import type { Ledger, Outcome, Recipient } from './ledger';

export interface Audience {
  language_codes?: string[];
}

export interface Counters {
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
}

/** Everything a campaign's object keeps besides its ledger. */
export interface CampaignState {
  id: string;
  status: CampaignStatus;
  ratePerSecond: number;
  paid: boolean;
  audience: Audience;
  /** Epoch ms of a scheduled start, or null. */
  scheduledFor: number | null;
  variants: Variant[];
  counters: Counters;
  usage: Usage;
  /** Total known: the audience was counted when the campaign started. */
  counted: boolean;
  /** Last `users.id` the loader enqueued. */
  cursor: number;
  /** The loader reached the end of the audience. */
  exhausted: boolean;
  /** Batches enqueued so far (names the next one). */
  batches: number;
  /** The campaign's own pace: no send of it before this epoch ms. */
  nextOwnSlot: number;
  startedAt: number | null;
  finishedAt: number | null;
  /** Correlation id of the request that started (or scheduled, or resumed) it: its sends log it. */
  correlationId?: string;
}

export type SendOutcome = Outcome | 'retry';

/** What a sender reports for one recipient it was granted. */
export interface SendReport {
  id: number;
  lang: string | null;
  outcome: SendOutcome;
  reason?: string;
  /** For `retry`: epoch ms before which the recipient must not be tried again. */
  retryAt?: number;
}

export interface ExchangeRequest {
  /** The queue message of recipients this sender works on. */
  batch: string;
  /** Outcomes of sends granted earlier. */
  reports: SendReport[];
  /** Recipients of the batch not yet handed back: the campaign takes a prefix of them. */
  offer: Recipient[];
  /** The sender has nothing left to offer and has reported every send: the batch is finished. */
  done: boolean;
  /** The sender gives the whole offer back, to be sent again from this epoch ms (a long 429). */
  deferUntil?: number;
  /** Round trips to Postgres the sender made for this batch since its last exchange. */
  dbRoundTrips?: number;
}

export interface ExchangeReply {
  status: CampaignStatus;
  /** Sends the sender may make, each not before its `at` (epoch ms). */
  grants: { recipient: Recipient; at: number }[];
  /** How many recipients from the front of `offer` the campaign took (granted, skipped or set aside). */
  take: number;
  /** With nothing granted: how long to wait before asking again, in ms. */
  waitMs: number;
}

export interface Snapshot extends Counters {
  id: string;
  usage: Usage;
  status: CampaignStatus;
  pending: number;
  rate_per_second: number;
  paid_broadcast: boolean;
  scheduled_at: string | null;
  started_at: string | null;
  finished_at: string | null;
  correlation_id: string | null;
}

/** A claim not reported within this long is counted `unknown` (its sender died; it may have sent). */
export const CLAIM_LEASE_MS = 60_000;

/**
 * A campaign's logic over its ledger and a state it is handed: transitions, counters and the
 * exchange with senders. No I/O besides the ledger and the gate function passed in; the Durable
 * Object persists the state after each call.
 */
export class CampaignEngine {
  readonly #ledger: Ledger;
  state: CampaignState;

  constructor(ledger: Ledger, state: CampaignState) {
    this.#ledger = ledger;
    this.state = state;
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

  /** Slots one exchange asks for: one horizon of the campaign's pace. */
  get slotsPerExchange(): number {
    return Math.max(1, Math.ceil((this.state.ratePerSecond * HORIZON_MS) / 1000));
  }

  async exchange(req: ExchangeRequest, now: number, gate: (r: SlotRequest) => Promise<SlotGrant>): Promise<ExchangeReply> {
    this.#applyReports(req.reports, now);
    const s = this.state;
    s.usage.do_requests++;
    s.usage.db_round_trips += req.dbRoundTrips ?? 0;
    if (req.deferUntil !== undefined && s.status !== 'cancelled') {
      for (const r of req.offer) if (!this.#ledger.status(r.id)) this.#ledger.putReturned(r, req.deferUntil);
      return { status: s.status, grants: [], take: req.offer.length, waitMs: 0 };
    }
    if (s.status !== 'running') {
      // Paused: the rest waits in `returned` for the resume; cancelled or finished: dropped.
      if (s.status === 'paused' || s.status === 'scheduled')
        for (const r of req.offer) if (!this.#ledger.status(r.id)) this.#ledger.putReturned(r, now);
      if (req.done || req.offer.length > 0) this.#ledger.finishBatch(req.batch);
      return { status: s.status, grants: [], take: req.offer.length, waitMs: 0 };
    }

    // Walk the offer in order: skip recipients the ledger already has, pick the rest up to one horizon.
    const picked: Recipient[] = [];
    let scanned = 0;
    for (const r of req.offer) {
      if (picked.length >= this.slotsPerExchange) break;
      scanned++;
      const entry = this.#ledger.status(r.id);
      if (!entry) picked.push(r);
      else if (entry.status === 'claimed' && now - entry.claimedAt > CLAIM_LEASE_MS)
        this.#settle(r.id, 'unknown', 'claimed by a sender that never reported');
    }
    // Claim before asking the gate, so a concurrent exchange cannot pick the same recipients.
    for (const r of picked) this.#ledger.claim(r.id, req.batch, now);
    if (picked.length) s.usage.do_requests++;
    const grant = picked.length
      ? await gate({ count: picked.length, paid: s.paid, notBefore: s.nextOwnSlot, spacingMs: 1000 / s.ratePerSecond })
      : { times: [] };
    const granted = picked.slice(0, grant.times.length);
    for (const r of picked.slice(granted.length)) this.#ledger.release(r.id);
    const lastTime = grant.times.at(-1);
    if (lastTime !== undefined) s.nextOwnSlot = lastTime + 1000 / s.ratePerSecond;

    // The offer is taken up to its first picked recipient that got no slot.
    const firstUngranted = picked[granted.length];
    const take = firstUngranted ? req.offer.indexOf(firstUngranted) : scanned;
    if (req.done && take === req.offer.length) this.#ledger.finishBatch(req.batch);
    else if (take === req.offer.length) this.#ledger.drainBatch(req.batch);
    // Nothing granted: come back when Telegram's wait ends, or when the timeline has room again.
    const waitMs = granted.length ? 0 : Math.max(1, Math.ceil((grant.blockedUntil ?? grant.askAgainAt ?? now + 50) - now));
    return { status: s.status, grants: granted.map((recipient, i) => ({ recipient, at: grant.times[i] as number })), take, waitMs };
  }

  /** True when a running campaign has nothing left: loaded all, nothing in flight, waiting or claimed. */
  isDone(now: number): boolean {
    const s = this.state;
    if (s.status !== 'running' || !s.exhausted || this.#ledger.batchesInFlight() > 0 || this.#ledger.returnedCount().count > 0)
      return false;
    for (const id of this.#ledger.staleClaims(now - CLAIM_LEASE_MS)) this.#settle(id, 'unknown', 'claimed by a sender that never reported');
    return this.#ledger.liveClaims() === 0;
  }

  /**
   * When a running campaign that is not done should look again by itself: when recipients set aside
   * come due, or — with no batch left whose sender would report — when its oldest claim expires.
   */
  nextCheck(now: number): number | null {
    if (this.state.status !== 'running') return null;
    const times: number[] = [];
    const { nextDue } = this.#ledger.returnedCount();
    if (nextDue !== null && nextDue > now) times.push(nextDue);
    const oldest = this.#ledger.oldestClaim();
    if (oldest !== null && this.#ledger.batchesInFlight() === 0) times.push(Math.max(now, oldest + CLAIM_LEASE_MS) + 1);
    return times.length ? Math.min(...times) : null;
  }

  complete(now: number): void {
    this.state.status = 'completed';
    this.state.finishedAt = now;
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
      pending: isFinished(s.status) && s.status === 'cancelled' ? 0 : Math.max(0, total - sent - failed - blocked - unknown),
      rate_per_second: s.ratePerSecond,
      paid_broadcast: s.paid,
      scheduled_at: iso(s.scheduledFor),
      started_at: iso(s.startedAt),
      finished_at: iso(s.finishedAt),
      correlation_id: s.correlationId ?? null,
    };
  }

  #applyReports(reports: SendReport[], now: number): void {
    for (const r of reports) {
      if (r.outcome === 'retry') {
        this.#ledger.release(r.id);
        if (this.state.status !== 'cancelled') this.#ledger.putReturned({ id: r.id, lang: r.lang }, r.retryAt ?? now + 1000);
      } else {
        this.#settle(r.id, r.outcome, r.reason);
      }
    }
  }

  #settle(id: number, outcome: Outcome, reason: string | undefined): void {
    if (this.#ledger.settle(id, outcome, reason)) this.state.counters[outcome]++;
  }
}
