import type { Audience } from '../../workers/campaigns/campaigns.schema';
import { contentProblems, type Variant } from '../../workers/campaigns/content';
import { type Action, isFinished } from '../../workers/campaigns/lifecycle';
import { decodeRecipients, recipientsOf } from '../../workers/campaigns/recipients.envelope';
import { createLogger, errorMessage, type Logger } from '../../workers/core/logger';
import {
  BATCH_DEADLINE_MS,
  CampaignEngine,
  type CampaignState,
  type ExchangeReply,
  type ExchangeRequest,
  emptyUsage,
  type GateFn,
  type Snapshot,
} from './campaign.engine';
import type { Watcher } from './cards';
import { Ledger, type Recipient, type SqlPort } from './ledger';
import { type LoaderPorts, load } from './loader';

export interface CampaignSetup {
  id: string;
  ratePerSecond: number;
  paid: boolean;
  audience: Audience;
  scheduledFor: number | null;
  variants: Variant[];
}

/** Status messages kept up to date per campaign (the latest ones). */
const MAX_WATCHERS = 5;

/** While a campaign runs, its row and its cards are refreshed this often: live, and well within Telegram's edit limits. */
const TICK_MS = 3_000;

/** What the runtime needs from its object and the world outside it; the object wires these. */
export interface CampaignHost {
  kv: { get<T>(key: string): T | undefined; put(key: string, value: unknown): void; delete(key: string): unknown };
  sql: SqlPort;
  alarm: { get(): Promise<number | null>; set(at: number): Promise<void> };
  /** Work that goes on after the call answers (`ctx.waitUntil`). */
  background(work: Promise<unknown>): void;
  /** Slots from the bot-wide gate. */
  gate: GateFn;
  /** The audience in Postgres and the broadcast queue, for the loader. */
  outside(state: CampaignState): Omit<LoaderPorts, 'save'>;
  /** Writes status and counters into the campaigns row (the read model). */
  mirror(snapshot: Snapshot): Promise<void>;
  /** Edits the admins' status messages (`editCards`). */
  editCards(
    watchers: Watcher[],
    snapshot: Snapshot,
    languages: (string | null)[],
    log: Logger,
  ): Promise<{ kept: Watcher[]; behind: boolean; edits: number }>;
}

type Refusal = { ok: false; reason: string };

/**
 * A campaign's life in its object, as a plain class over `CampaignHost`: the engine over the ledger,
 * the loader, deadlines, the row mirror and the cards. Storage keys: `state` (the engine's state),
 * `content` (the variants), `watchers` (status messages to keep up to date).
 */
export class CampaignRuntime {
  readonly #host: CampaignHost;
  #engine: CampaignEngine | undefined;
  #ledger: Ledger | undefined;
  #mirroring: Promise<void> = Promise.resolve();
  #pumping = false;
  #progress: Promise<void> = Promise.resolve();

  constructor(host: CampaignHost) {
    this.#host = host;
  }

  #load(): CampaignEngine | undefined {
    if (this.#engine) return this.#engine;
    const state = this.#host.kv.get<CampaignState & { variants?: Variant[] }>('state');
    if (!state) return undefined;
    if (state.variants) {
      // An object from before the content was kept apart from the state.
      this.#host.kv.put('content', state.variants);
      delete state.variants;
    }
    this.#ledger = new Ledger(this.#host.sql);
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
    this.#host.kv.put('state', engine.state);
  }

  #log(engine: CampaignEngine): Logger {
    return createLogger(engine.state.correlationId ?? engine.state.id, { campaign: engine.state.id });
  }

  init(setup: CampaignSetup): Snapshot {
    const existing = this.#load();
    if (existing) return existing.snapshot();
    const { variants, ...rest } = setup;
    this.#host.kv.put('content', variants);
    this.#host.kv.put('state', {
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

  /** Adds or replaces the variant of one language; only a draft's content changes, and only to valid content. */
  revise(variant: Variant): { ok: true; variants: Variant[] } | (Refusal & { field?: string }) {
    const { status } = this.#required().state;
    if (status !== 'draft') return { ok: false, reason: `cannot change the message of a ${status} campaign` };
    const same = (v: Variant) => (v.language_code ?? '') === (variant.language_code ?? '');
    const variants = [...this.#variants().filter((v) => !same(v)), variant];
    const [problem] = contentProblems(variants);
    if (problem) return { ok: false, field: problem.field, reason: problem.message };
    this.#host.kv.put('content', variants);
    return { ok: true, variants };
  }

  watch(watcher: Omit<Watcher, 'shown'>): void {
    const others = this.#watchers().filter((w) => w.chatId !== watcher.chatId || w.messageId !== watcher.messageId);
    this.#host.kv.put('watchers', [...others, watcher].slice(-MAX_WATCHERS));
  }

  async act(action: Action, correlationId: string | undefined): Promise<{ ok: true; snapshot: Snapshot } | Refusal> {
    const engine = this.#required();
    const result = engine.apply(action, Date.now());
    if (!result.ok) return result;
    const { status, scheduledFor } = engine.state;
    if (correlationId && (status === 'running' || status === 'scheduled')) engine.state.correlationId = correlationId;
    this.#save(engine);
    if (status === 'scheduled' && scheduledFor !== null) await this.#host.alarm.set(scheduledFor);
    if (status === 'running') {
      this.#host.background(this.#pump());
      await this.#wakeAt(Date.now() + TICK_MS);
    }
    await this.#mirror(engine);
    this.#host.background(this.#showProgress());
    return { ok: true, snapshot: engine.snapshot() };
  }

  snapshot(): Snapshot | null {
    return this.#load()?.snapshot() ?? null;
  }

  content(): { variants: Variant[]; paid: boolean } {
    const engine = this.#required();
    engine.state.usage.do_requests++;
    this.#save(engine);
    return { variants: this.#variants(), paid: engine.state.paid };
  }

  async exchange(req: ExchangeRequest): Promise<ExchangeReply> {
    const engine = this.#required();
    let reply: ExchangeReply;
    try {
      reply = await engine.exchange(req, Date.now(), this.#host.gate);
    } finally {
      // With no await after the engine's last writes: its ledger and the state commit together.
      this.#save(engine);
    }
    // A batch drained or done, recipients set aside: the loader may send more. (A helper's batch
    // was drained before it began to help.)
    const drained = reply.take === req.offer.length && !req.more && (!req.help || req.done);
    if (drained || req.deferUntil !== undefined) this.#host.background(this.#pump());
    return reply;
  }

  settleBatch(batch: string, recipients: Recipient[]): boolean {
    const engine = this.#load();
    if (!engine) return false;
    const settled = this.#settle(engine, batch, recipients);
    this.#save(engine);
    this.#host.background(this.#pump());
    return settled;
  }

  async alarm(): Promise<void> {
    const engine = this.#load();
    if (!engine) return;
    engine.state.usage.do_requests++;
    if (engine.state.status === 'scheduled' && (engine.state.scheduledFor ?? 0) <= Date.now()) {
      engine.apply('start', Date.now());
      this.#save(engine);
    }
    await this.#pump();
    if (engine.state.status === 'running') {
      await this.#mirror(engine);
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
    try {
      for (const batch of ledger.overdueBatches(Date.now() - BATCH_DEADLINE_MS)) this.#settle(engine, batch, []);
      await load(engine, ledger, { ...this.#host.outside(engine.state), save: () => this.#save(engine) }, Date.now);
      if (engine.isDone(Date.now())) {
        engine.complete(Date.now());
        this.#save(engine);
        await this.#mirror(engine);
        this.#host.background(this.#showProgress());
      } else {
        this.#save(engine);
        const at = engine.nextCheck(Date.now());
        if (at !== null) await this.#wakeAt(at);
      }
    } catch (err) {
      this.#log(engine).error('campaign_pump_failed', { error: errorMessage(err) });
      await this.#wakeAt(Date.now() + 5_000);
    } finally {
      this.#pumping = false;
    }
  }

  /** Settles a queue message that will never report, with the recipients it recorded (or `fallback`). */
  #settle(engine: CampaignEngine, batch: string, fallback: Recipient[]): boolean {
    const packed = this.#ledger?.openBatch(batch);
    const decoded = packed ? decodeRecipients(packed) : undefined;
    const recipients = decoded?.ok ? recipientsOf(decoded.message) : fallback;
    const settled = engine.settleBatch(batch, recipients, Date.now());
    if (settled) this.#log(engine).warn('recipients_message_settled', { batch, recipients: recipients.length });
    return settled;
  }

  #variants(): Variant[] {
    return this.#host.kv.get<Variant[]>('content') ?? [];
  }

  #watchers(): Watcher[] {
    return this.#host.kv.get<Watcher[]>('watchers') ?? [];
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
    const { kept, behind, edits } = await this.#host.editCards(watchers, snapshot, languages, this.#log(engine));
    engine.state.usage.do_requests += edits;
    this.#save(engine);
    if (isFinished(snapshot.status) && !behind) this.#host.kv.delete('watchers');
    else this.#host.kv.put('watchers', kept);
    if (behind) await this.#wakeAt(Date.now() + TICK_MS);
  }

  /** Sets the alarm to `at` unless it is already set to go off sooner. */
  async #wakeAt(at: number): Promise<void> {
    const current = await this.#host.alarm.get();
    if (current === null || current > at) await this.#host.alarm.set(at);
  }

  /**
   * Writes the state to the row. One write at a time, each of the state as it is when it starts: two
   * writes in flight at once could land out of order and leave the row behind (running after completed).
   */
  #mirror(engine: CampaignEngine): Promise<void> {
    this.#mirroring = this.#mirroring.then(async () => {
      try {
        engine.state.usage.db_round_trips++;
        await this.#host.mirror(engine.snapshot());
      } catch (err) {
        this.#log(engine).warn('campaign_row_sync_failed', { error: errorMessage(err) });
      }
    });
    return this.#mirroring;
  }
}
