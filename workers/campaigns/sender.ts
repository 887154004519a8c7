import type { ExchangeReply, ExchangeRequest, SendOutcome, SendReport } from '../../durable-objects/campaign/campaign.engine';
import type { Recipient } from '../../durable-objects/campaign/ledger';
import { retrying, sleepUntil } from '../core/concurrency';
import type { Config } from '../core/config';
import { createDb } from '../core/db';
import { createLogger, errorMessage, type Logger } from '../core/logger';
import { learnGate, MAX_CONNECTIONS, Outbound, type Outcome, type Slot, STALE } from '../telegram/outbound';
import { deactivateUsers } from '../users/users.repo';
import { sendCall, type Variant, variantFor } from './content';
import { decodeRecipients, recipientsOf } from './recipients.envelope';

export interface SenderDeps {
  config: Config;
  env: Env;
}

interface Content {
  variants: Variant[];
  paid: boolean;
}

/**
 * How far ahead a sender holds slots: enough to ride out an exchange's round trip without a gap, short
 * enough that a pause takes effect at once. It asks for more when what it holds covers less than
 * `LOW_WATER_MS`, or less than a grant's way back (two exchange round trips) for a sender far from
 * its campaign's object.
 */
const AHEAD_MS = 200;
const LOW_WATER_MS = 80;
/** Most slots one exchange asks for. */
const MAX_WANT = 40;
/**
 * Recipients offered per exchange beyond the slots wanted: room to skip ones the ledger already has.
 * Few while none are skipped (each one offered is carried to the campaign and back); growing fast
 * while the campaign skips (a redelivered message, most of it sent already).
 */
const MIN_OFFER_MARGIN = 4;
const MAX_OFFER_MARGIN = 2000;
/** An exchange's round trip assumed before any is measured, in ms. */
const FIRST_EXCHANGE_MS = 10;
/** A call's duration assumed before any is measured, in ms. */
const FIRST_CALL_MS = 60;
/**
 * How long a slot reserves its connection, as a multiple of a call's mean duration: calls vary (the
 * network's jitter), and a connection still busy when its next slot comes makes that slot stale.
 */
const HOLD_FACTOR = 1.3;
/** The most a sender stretches its connections' hold after its slots went stale. */
const MAX_BACKOFF = 2;
/**
 * Slots that go stale together are one event, like the losses of one round trip to TCP: a stall of
 * the isolate (a garbage collection) makes every slot due during it stale at once, and widening the
 * hold once per slot would cut the sender's rate for a while after a 60 ms pause. The hold widens
 * at most once per this long; an isolate that stays behind keeps widening it, event after event.
 */
const WIDEN_EVERY_MS = 100;
/** A wait longer than this (a long 429) is not spent in the consumer: the recipients go back. */
const MAX_WAIT_MS = 10_000;
/** Waits between tries of a message's last exchange, which reports its last outcomes (a Durable Object may be restarting), in ms. */
const LAST_EXCHANGE_RETRY_MS = [200, 400, 600];

/**
 * After this long a message hands the recipients it has left back to the campaign and finishes: a
 * consumer invocation may run 15 minutes at most.
 */
const MESSAGE_BUDGET_MS = 10 * 60_000;

// A campaign's content never changes once it exists; one read per isolate is enough.
const contents = new Map<string, Promise<Content>>();

/**
 * The sender: consumes queue messages of a campaign's recipients. Each message is one production
 * invocation (`max_batch_size = 1`) and gets its own outbound path with its 6 connections. It trades
 * with the campaign's object — outcomes in, slots out — asking only for as many slots as it has free
 * connections, so every slot it holds can go out on time; a slot that went stale or was voided by a
 * 429 is handed back, never sent late. Recipients blocked (403) become inactive in one statement.
 */
export async function processRecipientsMessages(deps: SenderDeps, queueBatch: MessageBatch): Promise<void> {
  await Promise.all(queueBatch.messages.map((message) => processMessage(deps, message)));
}

async function processMessage(deps: SenderDeps, message: Message): Promise<void> {
  const decoded = decodeRecipients(message.body);
  if (!decoded.ok) {
    createLogger(crypto.randomUUID(), { queue: 'broadcast', message_id: message.id }).error('recipients_message_undecodable', {
      reason: decoded.reason,
    });
    message.ack();
    return;
  }
  const { campaign, batch, cid } = decoded.message;
  const recipients = recipientsOf(decoded.message);
  // The campaign's correlation id: its sends log under the request that started it.
  const log = createLogger(cid ?? crypto.randomUUID(), { queue: 'broadcast', message_id: message.id });
  const started = Date.now();
  try {
    const stub = deps.env.CAMPAIGN.get(deps.env.CAMPAIGN.idFromName(campaign));
    let content = contents.get(campaign);
    if (!content) {
      content = (async (): Promise<Content> => stub.content())();
      contents.set(campaign, content);
      content.catch(() => contents.delete(campaign));
    }
    const sender = new Sender(deps, (req) => stub.exchange(req), await content, batch, log.child({ campaign, batch }));
    await sender.run(recipients);
    message.ack();
    log.info('recipients_message_done', {
      campaign,
      batch,
      recipients: recipients.length,
      ms: Date.now() - started,
      released: sender.released,
    });
  } catch (err) {
    log.error('recipients_message_failed', { campaign, batch, error: errorMessage(err) });
    message.retry({ delaySeconds: Math.min(5 * message.attempts, 60) });
  }
}

/**
 * Dead letters of the broadcast queue: messages of recipients whose retries are spent. Each goes to
 * its campaign, which sends again whoever of it never got a slot and counts its claims `unknown`, so
 * the campaign completes instead of waiting for a recipients message that will never report.
 */
export async function settleDeadRecipients(env: Env, queueBatch: MessageBatch): Promise<void> {
  for (const message of queueBatch.messages) {
    const decoded = decodeRecipients(message.body);
    if (decoded.ok) {
      const { campaign, batch } = decoded.message;
      await env.CAMPAIGN.get(env.CAMPAIGN.idFromName(campaign)).settleBatch(batch, recipientsOf(decoded.message));
    }
    message.ack();
  }
}

type Exchange = (req: ExchangeRequest) => Promise<ExchangeReply>;

/**
 * The recipients a sender has not handed to the campaign yet: those handed back first, then the
 * message's own from a moving start (read in place, never copied whole: a message holds up to 2,000).
 * Lent ones (from the far end) stay its own: the campaign skips those a helper sent first.
 */
class Offer {
  readonly #own: Recipient[];
  #next = 0;
  #back: Recipient[] = [];
  /** How many of its own, counted from the end, were lent. */
  #lent = 0;

  constructor(own: Recipient[]) {
    this.#own = own;
  }

  get size(): number {
    return this.#back.length + this.#own.length - this.#next;
  }

  putBack(recipients: Recipient[]): void {
    if (recipients.length) this.#back = [...recipients, ...this.#back];
  }

  first(n: number): Recipient[] {
    const head = this.#back.slice(0, n);
    return head.length < n ? head.concat(this.#own.slice(this.#next, this.#next + n - head.length)) : head;
  }

  take(n: number): void {
    const fromBack = Math.min(n, this.#back.length);
    this.#back = this.#back.slice(fromBack);
    this.#next += n - fromBack;
  }

  /** Up to `n` of its own not lent yet, from the far end, never one of the next `keep` it offers. */
  lend(n: number, keep: number): Recipient[] {
    const to = this.#own.length - this.#lent;
    const from = Math.max(this.#next + keep, to - n);
    if (from >= to) return [];
    this.#lent += to - from;
    return this.#own.slice(from, to);
  }
}

/** What a send's outcome means for the campaign's ledger. */
function reportOf(outcome: Outcome): { outcome: SendOutcome; reason?: string } {
  switch (outcome.kind) {
    case 'ok':
      return { outcome: 'sent' };
    case 'blocked':
      return { outcome: 'blocked', reason: outcome.reason };
    case 'permanent':
      return { outcome: 'failed', reason: outcome.reason };
    case 'unknown':
      return { outcome: 'unknown', reason: outcome.reason };
    default:
      // A 429, a void or stale slot: it never left; the sender offers the recipient again.
      return { outcome: 'released', reason: outcome.reason };
  }
}

/**
 * One message of recipients being sent: its connections, the slots it holds and what it reports. It
 * tells the gate when each of its 6 connections is free and how long a send keeps one, so it is never
 * granted more than it can send on time; one dispatcher walks the slots in order, and a slot whose
 * connection is still busy when it comes goes stale in the outbound path and is handed back.
 */
class Sender {
  readonly #deps: SenderDeps;
  readonly #exchange: Exchange;
  readonly #content: Content;
  readonly #batch: string;
  readonly #log: Logger;
  readonly #outbound: Outbound;
  readonly #reports: SendReport[] = [];
  readonly #released: Recipient[] = [];
  readonly #blocked: number[] = [];
  /** Granted slots not yet sent, in time order. */
  readonly #queue: { recipient: Recipient; slot: Slot }[] = [];
  readonly #sends = new Set<Promise<void>>();
  #dispatching: Promise<void> | undefined;
  /** Wakes `run` when a send leaves or comes back (what it waits for when it can ask for nothing). */
  #changed: () => void = () => {};
  /** When each connection is free, as the gate planned it (epoch ms). */
  #lanes: number[] = Array.from({ length: MAX_CONNECTIONS }, () => 0);
  /** A call's mean duration (ms), an exponential average. */
  #callMs = FIRST_CALL_MS;
  /**
   * How much longer than a call a slot keeps its connection: a slot gone stale means the sender fell
   * behind (its timers or connections came late), so it asks for fewer until it keeps up again.
   */
  #backoff = 1;
  /** When the hold last widened (epoch ms). */
  #widenedAt = 0;
  /** An exchange's round trip (ms), an exponential average: slots must be asked for at least this far ahead. */
  #exchangeMs = FIRST_EXCHANGE_MS;
  #offerMargin = MIN_OFFER_MARGIN;
  /** Recipients it lends with its next exchange (the campaign asked; helpers are waiting). */
  #spare: Recipient[] = [];
  /** Once its own are sent, it may help other batches until the campaign says none has any to spare. */
  #mayHelp = true;
  /** Slots handed back, by reason (stale, voided by a 429, ...): how far the sender fell behind. */
  readonly released: Record<string, number> = {};

  constructor(deps: SenderDeps, exchange: Exchange, content: Content, batch: string, log: Logger) {
    this.#deps = deps;
    this.#exchange = exchange;
    this.#content = content;
    this.#batch = batch;
    this.#log = log;
    this.#outbound = new Outbound(deps.config, deps.env);
  }

  async run(recipients: Recipient[]): Promise<void> {
    const unwatch = this.#outbound.watchFlood();
    try {
      await this.#run(recipients);
    } finally {
      unwatch();
    }
  }

  async #run(recipients: Recipient[]): Promise<void> {
    const started = Date.now();
    const offer = new Offer(recipients);
    for (;;) {
      // Recipients handed back are offered again first (never while an exchange is out: the campaign
      // takes a prefix of the offer it was sent).
      offer.putBack(this.#released.splice(0));
      // Its own all sent: it helps the batches behind (sends what they lend) until none has any left.
      const helping = !offer.size && this.#mayHelp && Date.now() - started <= MESSAGE_BUDGET_MS;
      if (!offer.size && !helping) {
        if (!this.#queue.length && !this.#sends.size) break;
        // Nothing to offer: only a send coming back (it may hand its recipient back) changes that.
        await this.#nextChange();
        continue;
      }
      const last = this.#queue.at(-1)?.slot.at;
      const lowWater = Math.max(LOW_WATER_MS, this.#grantTripMs());
      // With something to lend, it exchanges at once: helpers are waiting.
      if (last !== undefined && last - Date.now() > lowWater && !this.#spare.length) {
        await sleepUntil(last - lowWater);
        continue;
      }
      const holdMs = this.#callMs * HOLD_FACTOR * this.#backoff;
      const room = Math.ceil((MAX_CONNECTIONS * AHEAD_MS) / holdMs) - this.#queue.length;
      const want = Math.max(0, Math.min(MAX_WANT, helping ? MAX_WANT : offer.size, room));
      if (!want && !this.#spare.length) {
        // It holds all its connections can take: more only once the next send leaves or one comes back.
        await this.#nextChange();
        continue;
      }
      const deferUntil = Date.now() - started > MESSAGE_BUDGET_MS ? Date.now() : undefined;
      // Handing everything back sends it all; otherwise the campaign sees only the next few.
      const shown = offer.first(deferUntil === undefined ? want + this.#offerMargin : offer.size);
      // A slot granted for the moment the grant is still on its way back would be stale on arrival.
      const earliest = Date.now() + this.#grantTripMs();
      const asked = Date.now();
      const spare = this.#spare.splice(0);
      const reply = await this.#exchange({
        batch: this.#batch,
        reports: this.#drain(),
        offer: shown,
        more: offer.size - shown.length,
        want,
        lanes: this.#lanes.map((free) => Math.max(free, earliest)),
        holdMs,
        done: false,
        deferUntil,
        ...(helping ? { help: true } : {}),
        ...(spare.length ? { spare } : {}),
      });
      this.#taken(reply, offer);
      if (reply.status !== 'running' || deferUntil !== undefined) break;
      const receivedAt = this.#accept(reply, asked);
      // Telegram asked the bot to wait long: hand the rest back until then instead of idling here.
      if (reply.waitMs > MAX_WAIT_MS && !reply.grants.length) await this.#handBack(offer, receivedAt + reply.waitMs);
      else if (reply.waitMs > 0) await sleepUntil(receivedAt + reply.waitMs);
    }
    await this.#finish(offer.first(offer.size));
  }

  /** What a reply says of the offer: how much the campaign took, what to lend next, whether helping is over. */
  #taken(reply: ExchangeReply, offer: Offer): void {
    offer.take(reply.take);
    // Never the next one per connection (about to be sent); nothing when all it could lend is lent already.
    if (reply.lend) this.#spare = offer.lend(reply.lend, MAX_CONNECTIONS);
    if (reply.help === false) this.#mayHelp = false;
    const skipped = reply.take > reply.grants.length;
    this.#offerMargin = skipped ? Math.min(MAX_OFFER_MARGIN, this.#offerMargin * 4) : Math.max(MIN_OFFER_MARGIN, this.#offerMargin / 2);
  }

  /**
   * Gives every recipient it has not sent back to the campaign, to be sent again from `until`; it
   * helps no other batch then (the bot is told to wait, and so would they).
   */
  async #handBack(offer: Offer, until: number): Promise<void> {
    this.#mayHelp = false;
    await this.#exchange({
      batch: this.#batch,
      reports: this.#drain(),
      offer: offer.first(offer.size),
      want: 0,
      done: false,
      deferUntil: until,
    });
    offer.take(offer.size);
  }

  /** Takes a reply's grants into the dispatch queue; learns the gate, the lanes and the exchange's round trip. */
  #accept(reply: ExchangeReply, asked: number): number {
    learnGate(reply);
    const receivedAt = Date.now();
    this.#exchangeMs = this.#exchangeMs * 0.8 + (receivedAt - asked) * 0.2;
    if (reply.lanes) this.#lanes = reply.lanes;
    for (const g of reply.grants) this.#queue.push({ recipient: g.recipient, slot: { at: g.at, epoch: reply.epoch, receivedAt } });
    if (reply.grants.length) this.#dispatching ??= this.#dispatch();
    return receivedAt;
  }

  /** Waits for the sends still out, marks who blocked the bot inactive, and reports the message done. */
  async #finish(offer: Recipient[]): Promise<void> {
    await this.#dispatching;
    await Promise.all(this.#sends);
    // Who blocked the bot becomes inactive before the batch is reported done, in one statement. Not
    // at the cost of the outcomes: if Postgres fails, they are reported anyway (a user left active
    // answers 403 again next time).
    if (this.#blocked.length)
      await deactivateUsers(createDb(this.#deps.config), this.#blocked).catch((err) =>
        this.#log.error('blocked_users_not_deactivated', { users: this.#blocked.length, error: errorMessage(err) }),
      );
    const rest = [...this.#released.splice(0), ...offer];
    const last: ExchangeRequest = {
      batch: this.#batch,
      reports: this.#drain(),
      offer: rest,
      want: 0,
      done: true,
      // What never left goes back to the campaign, to be sent by another message.
      deferUntil: rest.length ? Date.now() : undefined,
      dbRoundTrips: this.#blocked.length ? 1 : 0,
    };
    // The last exchange carries what the message's retry could not know (what was sent, what never
    // left): it is asked again if it fails. It claims nothing, so a repeat changes nothing.
    await retrying(
      () => this.#exchange(last),
      LAST_EXCHANGE_RETRY_MS,
      (attempt, err) => this.#log.warn('last_exchange_failed', { attempt, error: errorMessage(err) }),
    );
  }

  /** Walks the granted slots in order, starting each send at its moment (one timer at a time). */
  async #dispatch(): Promise<void> {
    for (let next = this.#queue[0]; next; next = this.#queue[0]) {
      await sleepUntil(next.slot.at);
      this.#queue.shift();
      const sending = this.#send(next.recipient, next.slot);
      this.#sends.add(sending);
      this.#changed();
      void sending.finally(() => {
        this.#sends.delete(sending);
        this.#changed();
      });
    }
    this.#dispatching = undefined;
  }

  async #send(recipient: Recipient, slot: Slot): Promise<void> {
    const [method, params] = sendCall(recipient.id, variantFor(this.#content.variants, recipient.lang), this.#content.paid);
    const started = Date.now();
    const outcome = await this.#outbound.send(method, params, { slot, priority: 'bulk', paid: this.#content.paid });
    const report = reportOf(outcome);
    if (report.outcome === 'released') {
      this.#released.push(recipient);
      const reason = report.reason ?? 'released';
      this.released[reason] = (this.released[reason] ?? 0) + 1;
      if (reason === STALE && Date.now() - this.#widenedAt >= WIDEN_EVERY_MS) {
        this.#backoff = Math.min(MAX_BACKOFF, this.#backoff * 1.1);
        this.#widenedAt = Date.now();
      }
    } else {
      this.#callMs = this.#callMs * 0.9 + (Date.now() - started) * 0.1;
      this.#backoff = Math.max(1, this.#backoff * 0.97);
    }
    if (report.outcome === 'blocked') this.#blocked.push(recipient.id);
    if (report.outcome === 'unknown') this.#log.warn('send_outcome_unknown', { chat_id: recipient.id, reason: report.reason });
    this.#reports.push({ id: recipient.id, lang: recipient.lang, ...report });
  }

  /** How soon a slot can be used after asking: a grant's way there and back, with a margin. */
  #grantTripMs(): number {
    return 2 * this.#exchangeMs + 2;
  }

  #nextChange(): Promise<void> {
    return new Promise((resolve) => {
      this.#changed = resolve;
    });
  }

  #drain(): SendReport[] {
    return this.#reports.splice(0, this.#reports.length);
  }
}
