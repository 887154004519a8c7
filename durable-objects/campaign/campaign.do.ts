import { DurableObject } from 'cloudflare:workers';
import { audienceCount, audiencePage, syncCampaignRow } from '../../workers/campaigns/campaigns.repo';
import type { Variant } from '../../workers/campaigns/content';
import type { Action } from '../../workers/campaigns/lifecycle';
import { encodeRecipients } from '../../workers/campaigns/recipients.envelope';
import { getConfig } from '../../workers/core/config';
import { createDb } from '../../workers/core/db';
import { botGate } from '../gate/gate.do';
import type { ExchangeReply, ExchangeRequest, Snapshot } from './campaign.engine';
import { editCards, type Watcher } from './cards';
import type { Recipient } from './ledger';
import { type CampaignHost, CampaignRuntime, type CampaignSetup } from './runtime';

/**
 * One object per campaign (`CAMPAIGN.idFromName(<campaign id>)`), the one owner of its content,
 * status, counters, pace and ledger. A thin shell: `CampaignRuntime` holds the campaign's life; this
 * class wires it to the object's storage and alarm, the bot gate, Postgres, the broadcast queue and
 * the Bot API, and answers the Worker's calls.
 */
export class CampaignObject extends DurableObject<Env> {
  readonly #runtime: CampaignRuntime;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    const storage = ctx.storage;
    const db = () => createDb(getConfig(env));
    const gate = botGate(env);
    const host: CampaignHost = {
      kv: storage.kv,
      sql: storage.sql,
      alarm: { get: () => storage.getAlarm(), set: (at) => storage.setAlarm(at) },
      background: (work) => ctx.waitUntil(work),
      gate: (request) => gate.acquire(request),
      outside: (s) => ({
        count: () => audienceCount(db(), s.audience),
        page: async (cursor, limit) => {
          const rows = await audiencePage(db(), s.audience, cursor, limit);
          return { recipients: rows.map((u) => ({ id: u.telegramId, lang: u.languageCode })), cursor: rows.at(-1)?.id ?? cursor };
        },
        pack: (batch, recipients) =>
          encodeRecipients({ campaign: s.id, batch, recipients: recipients.map((r) => [r.id, r.lang]), cid: s.correlationId }),
        enqueue: async (messages) => {
          await env.BROADCAST_QUEUE.sendBatch(messages.map((body) => ({ body, contentType: 'bytes' as const })));
        },
      }),
      mirror: (snapshot) => syncCampaignRow(db(), snapshot),
      editCards: (watchers, snapshot, languages, log) => editCards(env, watchers, snapshot, languages, log),
    };
    this.#runtime = new CampaignRuntime(host);
  }

  /** Creates the campaign (a draft) with its content; repeating it changes nothing. */
  async init(setup: CampaignSetup): Promise<Snapshot> {
    return this.#runtime.init(setup);
  }

  /** Adds or replaces the variant of one language of a draft; refused once the campaign has left draft or when invalid. */
  async revise(variant: Variant): Promise<{ ok: true; variants: Variant[] } | { ok: false; reason: string; field?: string }> {
    return this.#runtime.revise(variant);
  }

  /** Keeps a status message up to date with the campaign from now on (edited in place until it ends). */
  async watch(watcher: Omit<Watcher, 'shown'>): Promise<void> {
    this.#runtime.watch(watcher);
  }

  /**
   * A transition asked for by a request; when it starts, schedules or resumes the campaign, the
   * request's correlation id goes with every recipient message and send log from then on.
   */
  async act(action: Action, correlationId?: string): Promise<{ ok: true; snapshot: Snapshot } | { ok: false; reason: string }> {
    return this.#runtime.act(action, correlationId);
  }

  async snapshot(): Promise<Snapshot | null> {
    return this.#runtime.snapshot();
  }

  async content(): Promise<{ variants: Variant[]; paid: boolean }> {
    return this.#runtime.content();
  }

  /** A sender reports outcomes and offers recipients; it gets slots for some of them. */
  async exchange(req: ExchangeRequest): Promise<ExchangeReply> {
    return this.#runtime.exchange(req);
  }

  /**
   * A queue message of recipients that will never report (its retries are spent): the recipients it
   * still held go back to be sent, its claims become `unknown`, and the campaign goes on.
   */
  async settleBatch(batch: string, recipients: Recipient[]): Promise<boolean> {
    return this.#runtime.settleBatch(batch, recipients);
  }

  override async alarm(): Promise<void> {
    await this.#runtime.alarm();
  }
}
