import type { ExchangeReply, ExchangeRequest, SendReport } from '../../durable-objects/campaign/campaign.engine';
import type { Recipient } from '../../durable-objects/campaign/ledger';
import { botGate } from '../../durable-objects/gate/gate.do';
import { sleepUntil } from '../core/concurrency';
import type { Config } from '../core/config';
import { createDb } from '../core/db';
import { createLogger, errorMessage, type Logger } from '../core/logger';
import { deactivateUsers } from '../users/users.repo';
import { type Variant, variantFor } from './content';
import { decodeRecipients } from './recipients.envelope';
import { botEndpoint, type Delivery, deliver } from './telegram-send';

export interface SenderDeps {
  config: Config;
  env: Env;
}

interface Content {
  variants: Variant[];
  paid: boolean;
}

/**
 * Ask for the next slots this long before the granted ones run out, so the pace has no gaps. Short:
 * each exchange is granted up to one horizon from when it asks, so asking early buys less.
 */
const LOOKAHEAD_MS = 50;
/** A wait longer than this (a long 429) is not spent in the consumer: the recipients go back. */
const MAX_WAIT_MS = 10_000;
/** Sends of one message waiting on Telegram at once (Workers let 6 wait per invocation in production). */
const SENDS_IN_FLIGHT = 64;
/** A message of recipients has this long; sends still hanging then are aborted (outcome unknown). */
const MESSAGE_DEADLINE_MS = 10 * 60_000;

// A campaign's content never changes once it exists; one read per isolate is enough.
const contents = new Map<string, Promise<Content>>();

// Telegram's last 429, for every sender of this isolate: a send scheduled before it was known must
// not go out into the wait. Senders elsewhere learn of it from the gate at their next exchange.
let botBlockedUntil = 0;

/**
 * The sender: consumes queue messages of a campaign's recipients. For each message it trades with
 * the campaign's object — outcomes in, slots out — and sends each granted message at its slot, so
 * the pace is the campaign's and the bot's, whatever the number of senders. Recipients blocked (403)
 * become inactive in one statement per message.
 */
export async function processRecipientBatch(deps: SenderDeps, batch: MessageBatch): Promise<void> {
  await Promise.all(batch.messages.map((message) => processMessage(deps, message)));
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
  const { campaign, batch, recipients, cid } = decoded.batch;
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
    await sendAll(
      deps,
      (req) => stub.exchange(req),
      await content,
      batch,
      recipients.map(([id, lang]) => ({ id, lang })),
      log.child({ campaign, batch }),
    );
    message.ack();
    log.info('recipients_message_done', { campaign, batch, recipients: recipients.length, ms: Date.now() - started });
  } catch (err) {
    log.error('recipients_message_failed', { campaign, batch, error: errorMessage(err) });
    message.retry({ delaySeconds: Math.min(5 * message.attempts, 60) });
  }
}

type Exchange = (req: ExchangeRequest) => Promise<ExchangeReply>;

/**
 * Works one message of recipients: trades with the campaign object for slots and sends each granted
 * message at its slot. One timer at a time per message (Workers allow 10,000 per isolate): a single
 * dispatcher walks the granted slots in order, and sends carry no timers of their own — one deadline
 * for the whole message aborts whatever still hangs.
 */
async function sendAll(
  deps: SenderDeps,
  exchange: Exchange,
  content: Content,
  batch: string,
  recipients: Recipient[],
  log: Logger,
): Promise<void> {
  let offer = recipients;
  const reports: SendReport[] = [];
  const blocked: number[] = [];
  const inFlight = new Set<Promise<void>>();
  const drain = () => reports.splice(0, reports.length);
  const slot = semaphore(SENDS_IN_FLIGHT);
  const bot = botEndpoint(deps.config);
  const deadline = new AbortController();
  const deadlineTimer = setTimeout(() => deadline.abort(new Error('the message outlived its deadline')), MESSAGE_DEADLINE_MS);

  const send = async (grant: Grant) => {
    const variant = variantFor(content.variants, grant.recipient.lang);
    const d = await slot(async (): Promise<Delivery> => {
      if (Date.now() < botBlockedUntil) return { outcome: 'retry', retryAt: botBlockedUntil, reason: 'the bot is waiting out a 429' };
      return deliver(bot, grant.recipient.id, variant, content.paid, deadline.signal);
    });
    if (d.blockBotUntil) {
      botBlockedUntil = Math.max(botBlockedUntil, d.blockBotUntil);
      await botGate(deps.env).block(d.blockBotUntil);
    }
    if (d.outcome === 'blocked') blocked.push(grant.recipient.id);
    if (d.outcome === 'unknown') log.warn('send_outcome_unknown', { chat_id: grant.recipient.id, reason: d.reason });
    reports.push({ id: grant.recipient.id, lang: grant.recipient.lang, outcome: d.outcome, reason: d.reason, retryAt: d.retryAt });
  };
  // Slots of successive exchanges only grow, so one queue in order serves them all.
  const due: Grant[] = [];
  let dispatcher: Promise<void> | undefined;
  // Started only with grants waiting, so it always awaits before it can finish; it clears itself in
  // the same tick it finds the queue empty, so grants pushed later always find it gone or running.
  const dispatch = async () => {
    for (let grant = due.shift(); grant; grant = due.shift()) {
      await sleepUntil(grant.at);
      const sending = send(grant);
      inFlight.add(sending);
      void sending.finally(() => inFlight.delete(sending));
    }
    dispatcher = undefined;
  };

  try {
    for (;;) {
      const reply = await exchange({ batch, reports: drain(), offer, done: false });
      offer = offer.slice(reply.take);
      if (reply.status !== 'running') break;
      if (reply.grants.length) {
        due.push(...reply.grants);
        dispatcher ??= dispatch();
      }
      if (offer.length === 0) break;
      if (!reply.grants.length && reply.waitMs > MAX_WAIT_MS) {
        // Telegram asked the bot to wait long: hand the rest back until then instead of idling here.
        await exchange({ batch, reports: drain(), offer, done: false, deferUntil: Date.now() + reply.waitMs });
        offer = [];
        break;
      }
      const last = reply.grants.at(-1)?.at;
      await sleepUntil(last !== undefined ? last - LOOKAHEAD_MS : Date.now() + reply.waitMs);
    }
    await dispatcher;
    await Promise.all(inFlight);
  } finally {
    clearTimeout(deadlineTimer);
  }
  // Who blocked the bot becomes inactive before the batch is reported done, in one statement.
  if (blocked.length) await deactivateUsers(createDb(deps.config), blocked);
  await exchange({ batch, reports: drain(), offer, done: true, dbRoundTrips: blocked.length ? 1 : 0 });
}

type Grant = ExchangeReply['grants'][number];

/** Runs at most `n` of the functions it is given at once. */
function semaphore(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async (fn) => {
    if (active >= n) await new Promise<void>((resolve) => waiting.push(resolve));
    active++;
    try {
      return await fn();
    } finally {
      active--;
      waiting.shift()?.();
    }
  };
}
