import { DurableObject } from 'cloudflare:workers';
import { audienceCount, audiencePage, syncCampaignRow } from '../../workers/campaigns/campaigns.repo';
import type { Audience } from '../../workers/campaigns/campaigns.schema';
import type { Variant } from '../../workers/campaigns/content';
import { decodeRecipients, encodeRecipients } from '../../workers/campaigns/recipients.envelope';
import { getConfig } from '../../workers/core/config';
import { createDb } from '../../workers/core/db';
import { createLogger, errorMessage } from '../../workers/core/logger';
import { botGate } from '../gate/gate.do';
import {
  BATCH_DEADLINE_MS,
  CampaignEngine,
  type CampaignState,
  type ExchangeReply,
  type ExchangeRequest,
  emptyUsage,
  type Snapshot,
} from './campaign.engine';
import type { Action } from './campaign.state';
import { editCards, MAX_WATCHERS, type Watcher } from './cards';
import { Ledger, type Recipient } from './ledger';
import { load } from './loader';

export interface CampaignSetup {
  id: string;
  ratePerSecond: number;
  paid: boolean;
  audience: Audience;
  scheduledFor: number | null;
  variants: Variant[];
}

/** While a campaign runs, its row and its cards are refreshed this often: live, and well within Telegram's edit limits. */
const TICK_MS = 3_000;

/**
 * One object per campaign (`CAMPAIGN.idFromName(<campaign id>)`), the one owner of its content,
 * status, counters, pace and ledger. A thin shell: the logic is `CampaignEngine` over `Ledger`, the
 * loader is `load`, the cards are `editCards`; this class wires them to storage, the gate, Postgres
 * and the queue, and keeps the campaigns row (a read model) and the cards live on its alarm.
 */
export class CampaignObject extends DurableObject<Env> {
  #engine: CampaignEngine | undefined;
  #ledger: Ledger | undefined;
  #pumping = false;
  #progress: Promise<void> = Promise.resolve();

  #load(): CampaignEngine | undefined {
    if (this.#engine) return this.#engine;
    const state = this.ctx.storage.kv.get<CampaignState & { variants?: Variant[] }>('state');
    if (!state) return undefined;
    if (state.variants) {
      // An object from before the content was kept apart from the state.
      this.ctx.storage.kv.put('content', state.variants);
      delete state.variants;
    }
    this.#ledger = new Ledger(this.ctx.storage.sql);
    this.#engine = new CampaignEngine(this.#ledger, state);
    return this.#engine;
  }

  #required(): CampaignEngine {
    const engine = this.#load();
    if (!engine) throw new Error('campaign not initialised');
    return engine;
  }

  #save(engine: CampaignEngine): void {
    engine.meter(1);
    this.ctx.storage.kv.put('state', engine.state);
  }

  /** Creates the campaign (a draft) with its content; repeating it changes nothing. */
  async init(setup: CampaignSetup): Promise<Snapshot> {
    const existing = this.#load();
    if (existing) return existing.snapshot();
    const { variants, ...rest } = setup;
    this.ctx.storage.kv.put('content', variants);
    this.ctx.storage.kv.put('state', {
      ...rest,
      status: 'draft',
      counters: { total: 0, sent: 0, failed: 0, blocked: 0, unknown: 0 },
      usage: emptyUsage(),
      counted: false,
      cursor: 0,
      exhausted: false,
      batches: 0,
      startedAt: null,
      finishedAt: null,
    } satisfies CampaignState);
    return this.#required().snapshot();
  }

  /** Replaces the message variants of a draft; refused once the campaign has left draft. */
  async revise(variants: Variant[]): Promise<{ ok: true } | { ok: false; reason: string }> {
    const engine = this.#required();
    if (engine.state.status !== 'draft') return { ok: false, reason: `cannot change the message of a ${engine.state.status} campaign` };
    this.ctx.storage.kv.put('content', variants);
    return { ok: true };
  }

  /** Keeps a status message up to date with the campaign from now on (edited in place until it ends). */
  async watch(watcher: Omit<Watcher, 'shown'>): Promise<void> {
    const others = this.#watchers().filter((w) => w.chatId !== watcher.chatId || w.messageId !== watcher.messageId);
    this.ctx.storage.kv.put('watchers', [...others, watcher].slice(-MAX_WATCHERS));
  }

  /**
   * A transition asked for by a request; when it starts, schedules or resumes the campaign, the
   * request's correlation id goes with every recipient message and send log from then on.
   */
  async act(action: Action, correlationId?: string): Promise<{ ok: true; snapshot: Snapshot } | { ok: false; reason: string }> {
    const engine = this.#required();
    const result = engine.apply(action, Date.now());
    if (!result.ok) return result;
    const { status, scheduledFor } = engine.state;
    if (correlationId && (status === 'running' || status === 'scheduled')) engine.state.correlationId = correlationId;
    this.#save(engine);
    if (status === 'scheduled' && scheduledFor !== null) await this.ctx.storage.setAlarm(scheduledFor);
    if (status === 'running') {
      this.ctx.waitUntil(this.#pump());
      await this.#wakeAt(Date.now() + TICK_MS);
    }
    await this.#sync(engine);
    this.ctx.waitUntil(this.#showProgress());
    return { ok: true, snapshot: engine.snapshot() };
  }

  async snapshot(): Promise<Snapshot | null> {
    return this.#load()?.snapshot() ?? null;
  }

  async content(): Promise<{ variants: Variant[]; paid: boolean }> {
    const engine = this.#required();
    engine.state.usage.do_requests++;
    this.#save(engine);
    return { variants: this.#variants(), paid: engine.state.paid };
  }

  /** A sender reports outcomes and offers recipients; it gets slots for some of them. */
  async exchange(req: ExchangeRequest): Promise<ExchangeReply> {
    const engine = this.#required();
    const gate = botGate(this.env);
    const reply = await engine.exchange(req, Date.now(), (r) => gate.acquire(r));
    this.#save(engine);
    // A batch drained or done, recipients set aside: the loader may send more.
    if ((reply.take === req.offer.length && !req.more) || req.deferUntil !== undefined) this.ctx.waitUntil(this.#pump());
    return reply;
  }

  /**
   * A queue message of recipients that will never report (its retries are spent): the recipients it
   * still held go back to be sent, its claims become `unknown`, and the campaign goes on.
   */
  async settleBatch(batch: string, recipients: Recipient[]): Promise<boolean> {
    const engine = this.#load();
    if (!engine) return false;
    const settled = this.#settle(engine, batch, recipients);
    this.#save(engine);
    this.ctx.waitUntil(this.#pump());
    return settled;
  }

  override async alarm(): Promise<void> {
    const engine = this.#load();
    if (!engine) return;
    engine.state.usage.do_requests++;
    if (engine.state.status === 'scheduled' && (engine.state.scheduledFor ?? 0) <= Date.now()) {
      engine.apply('start', Date.now());
      this.#save(engine);
    }
    await this.#pump();
    if (engine.state.status === 'running') {
      await this.#sync(engine);
      await this.#wakeAt(Date.now() + TICK_MS);
    }
    await this.#showProgress();
  }

  /** Loads recipients, settles batches past their deadline, and completes the campaign when nothing is left. */
  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    const engine = this.#required();
    const ledger = this.#ledger as Ledger;
    const s = engine.state;
    const db = createDb(getConfig(this.env));
    try {
      for (const batch of ledger.overdueBatches(Date.now() - BATCH_DEADLINE_MS)) this.#settle(engine, batch, []);
      await load(
        engine,
        ledger,
        {
          count: () => audienceCount(db, s.audience),
          page: async (cursor, limit) => {
            const rows = await audiencePage(db, s.audience, cursor, limit);
            return { recipients: rows.map((u) => ({ id: u.telegramId, lang: u.languageCode })), cursor: rows.at(-1)?.id ?? cursor };
          },
          pack: (batch, recipients) =>
            encodeRecipients({ campaign: s.id, batch, recipients: recipients.map((r) => [r.id, r.lang]), cid: s.correlationId }),
          enqueue: async (messages) => {
            await this.env.BROADCAST_QUEUE.sendBatch(messages.map((body) => ({ body, contentType: 'bytes' as const })));
          },
          save: () => this.#save(engine),
        },
        Date.now,
      );
      if (engine.isDone(Date.now())) {
        engine.complete(Date.now());
        this.#save(engine);
        await this.#sync(engine);
        this.ctx.waitUntil(this.#showProgress());
      } else {
        this.#save(engine);
        const at = engine.nextCheck(Date.now());
        if (at !== null) await this.#wakeAt(at);
      }
    } catch (err) {
      createLogger(s.correlationId ?? s.id, { campaign: s.id }).error('campaign_pump_failed', { error: errorMessage(err) });
      await this.#wakeAt(Date.now() + 5_000);
    } finally {
      this.#pumping = false;
    }
  }

  #settle(engine: CampaignEngine, batch: string, fallback: Recipient[]): boolean {
    const packed = this.#ledger?.openBatch(batch);
    const decoded = packed ? decodeRecipients(packed) : undefined;
    const recipients = decoded?.ok ? decoded.batch.recipients.map(([id, lang]) => ({ id, lang })) : fallback;
    const settled = engine.settleBatch(batch, recipients, Date.now());
    if (settled)
      createLogger(engine.state.correlationId ?? engine.state.id, { campaign: engine.state.id }).warn('recipients_message_settled', {
        batch,
        recipients: recipients.length,
      });
    return settled;
  }

  #variants(): Variant[] {
    return this.ctx.storage.kv.get<Variant[]>('content') ?? [];
  }

  #watchers(): Watcher[] {
    return this.ctx.storage.kv.get<Watcher[]>('watchers') ?? [];
  }

  /** Edits the cards that show something else than the campaign now (one round at a time). */
  #showProgress(): Promise<void> {
    this.#progress = this.#progress.then(() => this.#editWatchers()).catch(() => {});
    return this.#progress;
  }

  async #editWatchers(): Promise<void> {
    const engine = this.#load();
    const watchers = this.#watchers();
    if (!engine || !watchers.length) return;
    const snapshot = engine.snapshot();
    const languages = this.#variants().map((v) => v.language_code);
    const log = createLogger(engine.state.id, { campaign: engine.state.id });
    const { kept, behind, edits } = await editCards(this.env, watchers, snapshot, languages, log);
    engine.state.usage.do_requests += edits;
    this.#save(engine);
    const finished = snapshot.status === 'completed' || snapshot.status === 'cancelled';
    if (finished && !behind) this.ctx.storage.kv.delete('watchers');
    else this.ctx.storage.kv.put('watchers', kept);
    if (behind) await this.#wakeAt(Date.now() + TICK_MS);
  }

  /** Sets the alarm to `at` unless it is already set to go off sooner. */
  async #wakeAt(at: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
  }

  /** Mirrors status and counters into the campaigns row (the read model lists and reports use). */
  async #sync(engine: CampaignEngine): Promise<void> {
    try {
      engine.state.usage.db_round_trips++;
      await syncCampaignRow(createDb(getConfig(this.env)), engine.snapshot());
    } catch (err) {
      createLogger(engine.state.id, { campaign: engine.state.id }).warn('campaign_row_sync_failed', { error: errorMessage(err) });
    }
  }
}
