import { DurableObject } from 'cloudflare:workers';
import { GrammyError } from 'grammy';
import { translator } from '../../workers/bot/i18n';
import { campaignCard } from '../../workers/campaigns/campaign-view';
import { audienceCount, audiencePage, syncCampaignRow } from '../../workers/campaigns/campaigns.repo';
import type { Audience } from '../../workers/campaigns/campaigns.schema';
import type { Variant } from '../../workers/campaigns/content';
import { encodeRecipients, RECIPIENTS_PER_MESSAGE } from '../../workers/campaigns/recipients.envelope';
import { getConfig } from '../../workers/core/config';
import { createDb } from '../../workers/core/db';
import { createLogger, errorMessage } from '../../workers/core/logger';
import { createApi } from '../../workers/core/telegram';
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

/** A status message in an admin's chat that shows the campaign's progress, edited in place. */
export interface Watcher {
  chatId: number;
  messageId: number;
  locale: string;
  title: string;
  /** The text it shows now. */
  shown?: string;
}

/** How often a running campaign edits its status messages: well within Telegram's edit limits. */
const PROGRESS_EVERY_MS = 3_000;
const MAX_WATCHERS = 5;

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

  /** Replaces the message variants of a draft; refused once the campaign has left draft. */
  async revise(variants: Variant[]): Promise<{ ok: true } | { ok: false; reason: string }> {
    const engine = this.#required();
    if (engine.state.status !== 'draft') return { ok: false, reason: `cannot change the message of a ${engine.state.status} campaign` };
    engine.state.variants = variants;
    this.#save(engine);
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
    if (status === 'running') this.ctx.waitUntil(this.#pump());
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
    await this.#showProgress();
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
              body: encodeRecipients({
                campaign: s.id,
                batch: g.batch,
                recipients: g.recipients.map((r) => [r.id, r.lang]),
                cid: s.correlationId,
              }),
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
        this.ctx.waitUntil(this.#showProgress());
      } else {
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

  #watchers(): Watcher[] {
    return this.ctx.storage.kv.get<Watcher[]>('watchers') ?? [];
  }

  #progress: Promise<void> = Promise.resolve();

  /** Edits the status messages that show something else than the campaign now (one at a time). */
  #showProgress(): Promise<void> {
    this.#progress = this.#progress.then(() => this.#editWatchers()).catch(() => {});
    return this.#progress;
  }

  async #editWatchers(): Promise<void> {
    const engine = this.#load();
    const watchers = this.#watchers();
    if (!engine || !watchers.length) return;
    const snapshot = engine.snapshot();
    const languages = engine.state.variants.map((v) => v.language_code);
    const log = createLogger(engine.state.id, { campaign: engine.state.id });
    const api = createApi(getConfig(this.env), this.env);
    const kept: Watcher[] = [];
    let behind = false;
    for (const w of watchers) {
      const card = campaignCard(snapshot, { title: w.title, languages }, translator(w.locale));
      if (card.text === w.shown) {
        kept.push(w);
        continue;
      }
      try {
        // An edit is a message of the bot: the api takes a slot of the bot-wide budget first.
        engine.state.usage.do_requests++;
        await api.editMessageText(w.chatId, w.messageId, card.text, { parse_mode: 'HTML', reply_markup: card.reply_markup });
        kept.push({ ...w, shown: card.text });
      } catch (err) {
        if (err instanceof GrammyError && err.description.includes('message is not modified')) kept.push({ ...w, shown: card.text });
        else if (err instanceof GrammyError && err.error_code >= 400 && err.error_code < 429) {
          // The message or chat is gone, or Telegram refuses the edit for good: stop showing progress there.
          log.warn('campaign_progress_dropped', { chat_id: w.chatId, error: err.description });
        } else {
          log.warn('campaign_progress_edit_failed', { chat_id: w.chatId, error: errorMessage(err) });
          kept.push(w);
          behind = true;
        }
      }
    }
    const finished = snapshot.status === 'completed' || snapshot.status === 'cancelled';
    this.#save(engine);
    if (finished && !behind) this.ctx.storage.kv.delete('watchers');
    else this.ctx.storage.kv.put('watchers', kept);
    if (kept.length && (snapshot.status === 'running' || behind)) await this.#wakeAt(Date.now() + PROGRESS_EVERY_MS);
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
