import { DurableObject } from 'cloudflare:workers';
import { audienceCount, audiencePage, syncCampaignRow } from '../../workers/campaigns/campaigns.repo';
import type { Audience } from '../../workers/campaigns/campaigns.schema';
import type { Variant } from '../../workers/campaigns/content';
import { encodeRecipients, RECIPIENTS_PER_MESSAGE } from '../../workers/campaigns/recipients.envelope';
import { getConfig } from '../../workers/core/config';
import { createDb } from '../../workers/core/db';
import { createLogger, errorMessage } from '../../workers/core/logger';
import { botGate } from '../gate/gate.do';
import { CampaignEngine, type CampaignState, type ExchangeReply, type ExchangeRequest, type Snapshot } from './campaign.engine';
import type { Action } from './campaign.state';
import { Ledger, type Recipient } from './ledger';

export interface CampaignSetup {
  id: string;
  ratePerSecond: number;
  paid: boolean;
  audience: Audience;
  scheduledFor: number | null;
  variants: Variant[];
}

/**
 * One object per campaign (`CAMPAIGN.idFromName(<campaign id>)`): its state machine, counters, pace
 * and ledger, and the loader that walks the audience into queue messages of recipients, keeping a
 * bounded number in flight. A thin shell: the logic is `CampaignEngine` over `Ledger`.
 */
export class CampaignObject extends DurableObject<Env> {
  #engine: CampaignEngine | undefined;
  #pumping = false;

  #load(): CampaignEngine | undefined {
    if (this.#engine) return this.#engine;
    const state = this.ctx.storage.kv.get<CampaignState>('state');
    if (!state) return undefined;
    this.#engine = new CampaignEngine(new Ledger(this.ctx.storage.sql), state);
    return this.#engine;
  }

  #required(): CampaignEngine {
    const engine = this.#load();
    if (!engine) throw new Error('campaign not initialised');
    return engine;
  }

  #save(engine: CampaignEngine): void {
    this.ctx.storage.kv.put('state', engine.state);
  }

  /** Creates the campaign's state (a draft); repeating it changes nothing. */
  async init(setup: CampaignSetup): Promise<Snapshot> {
    const existing = this.#load();
    if (existing) return existing.snapshot();
    const engine = new CampaignEngine(new Ledger(this.ctx.storage.sql), {
      ...setup,
      status: 'draft',
      counters: { total: 0, sent: 0, failed: 0, blocked: 0, unknown: 0 },
      usage: { do_requests: 0, queue_operations: 0, db_round_trips: 0 },
      counted: false,
      cursor: 0,
      exhausted: false,
      batches: 0,
      nextOwnSlot: 0,
      startedAt: null,
      finishedAt: null,
    });
    this.#engine = engine;
    this.#save(engine);
    return engine.snapshot();
  }

  async act(action: Action): Promise<{ ok: true; snapshot: Snapshot } | { ok: false; reason: string }> {
    const engine = this.#required();
    const result = engine.apply(action, Date.now());
    if (!result.ok) return result;
    this.#save(engine);
    const { status, scheduledFor } = engine.state;
    if (status === 'scheduled' && scheduledFor !== null) await this.ctx.storage.setAlarm(scheduledFor);
    if (status === 'running') this.ctx.waitUntil(this.#pump());
    await this.#sync(engine);
    return { ok: true, snapshot: engine.snapshot() };
  }

  async snapshot(): Promise<Snapshot | null> {
    return this.#load()?.snapshot() ?? null;
  }

  async content(): Promise<{ variants: Variant[]; paid: boolean }> {
    const engine = this.#required();
    engine.state.usage.do_requests++;
    this.#save(engine);
    const { variants, paid } = engine.state;
    return { variants, paid };
  }

  /** A sender reports outcomes and offers recipients; it gets slots for some of them. */
  async exchange(req: ExchangeRequest): Promise<ExchangeReply> {
    const engine = this.#required();
    const gate = botGate(this.env);
    const reply = await engine.exchange(req, Date.now(), (r) => gate.acquire(r));
    this.#save(engine);
    // A batch drained or done, recipients set aside: the loader may send more.
    if (reply.take === req.offer.length || req.deferUntil !== undefined || req.reports.some((r) => r.outcome === 'retry'))
      this.ctx.waitUntil(this.#pump());
    return reply;
  }

  override async alarm(): Promise<void> {
    const engine = this.#load();
    if (!engine) return;
    engine.state.usage.do_requests++;
    if (engine.state.status === 'scheduled' && (engine.state.scheduledFor ?? 0) <= Date.now()) {
      engine.apply('start', Date.now());
      this.#save(engine);
      await this.#sync(engine);
    }
    await this.#pump();
  }

  /**
   * The loader: while running, keep up to `maxInFlight` queue messages of recipients out — recipients
   * set aside earlier first, then the next page of the audience (keyset on users.id) — and finish the
   * campaign when nothing is left.
   */
  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    const engine = this.#required();
    const s = engine.state;
    const ledger = new Ledger(this.ctx.storage.sql);
    const db = createDb(getConfig(this.env));
    // About 20 s of sending waiting for slots: enough for consumers to never wait on the loader, few
    // enough that a pause or cancel has little to hand back.
    const maxInFlight = Math.min(100, Math.max(1, Math.ceil((s.ratePerSecond * 20) / RECIPIENTS_PER_MESSAGE)));
    try {
      for (;;) {
        const room = Math.min(10, maxInFlight - ledger.batchesUndrained());
        if (s.status !== 'running' || room <= 0) break;
        // Up to ten messages per sendBatch: recipients set aside first, then pages of the audience.
        const group: { batch: string; recipients: Recipient[]; due: Recipient[]; cursor: number }[] = [];
        let cursor = s.cursor;
        let exhausted = s.exhausted;
        const due = ledger.dueReturned(Date.now(), RECIPIENTS_PER_MESSAGE);
        if (due.length) group.push({ batch: `${s.id}:${s.batches + 1}`, recipients: due, due, cursor });
        while (group.length < room) {
          if (exhausted) break;
          if (!s.counted) {
            s.counters.total = await audienceCount(db, s.audience);
            s.usage.db_round_trips++;
            s.counted = true;
            this.#save(engine);
          }
          const page = await audiencePage(db, s.audience, cursor, RECIPIENTS_PER_MESSAGE);
          s.usage.db_round_trips++;
          if (page.length < RECIPIENTS_PER_MESSAGE) exhausted = true;
          if (!page.length) break;
          cursor = page.at(-1)?.id ?? cursor;
          const recipients = page.map((u) => ({ id: u.telegramId, lang: u.languageCode }));
          group.push({ batch: `${s.id}:${s.batches + group.length + 1}`, recipients, due: [], cursor });
        }
        if (!group.length) {
          s.exhausted = exhausted;
          this.#save(engine);
          break;
        }
        // Recorded before they are sent, so a sender that finishes one at once finds it.
        for (const g of group) ledger.addBatch(g.batch);
        try {
          await this.env.BROADCAST_QUEUE.sendBatch(
            group.map((g) => ({
              body: encodeRecipients({ campaign: s.id, batch: g.batch, recipients: g.recipients.map((r) => [r.id, r.lang]) }),
              contentType: 'bytes' as const,
            })),
          );
        } catch (err) {
          for (const g of group) ledger.finishBatch(g.batch);
          throw err;
        }
        s.batches += group.length;
        s.usage.queue_operations += 3 * group.length;
        s.cursor = cursor;
        s.exhausted = exhausted;
        for (const g of group) for (const r of g.due) ledger.takeReturned(r.id);
        this.#save(engine);
      }
      if (engine.isDone(Date.now())) {
        engine.complete(Date.now());
        this.#save(engine);
        await this.#sync(engine);
      } else {
        const at = engine.nextCheck(Date.now());
        if (at !== null) await this.#wakeAt(at);
      }
    } catch (err) {
      createLogger(s.id, { campaign: s.id }).error('campaign_pump_failed', { error: errorMessage(err) });
      await this.#wakeAt(Date.now() + 5_000);
    } finally {
      this.#pumping = false;
    }
  }

  /** Sets the alarm to `at` unless it is already set to go off sooner. */
  async #wakeAt(at: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
  }

  /** Mirrors status and counters into the campaigns row. */
  async #sync(engine: CampaignEngine): Promise<void> {
    try {
      engine.state.usage.db_round_trips++;
      await syncCampaignRow(createDb(getConfig(this.env)), engine.snapshot());
    } catch (err) {
      createLogger(engine.state.id, { campaign: engine.state.id }).warn('campaign_row_sync_failed', { error: errorMessage(err) });
    }
  }
}
