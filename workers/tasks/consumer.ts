import type { Api } from 'grammy';
import { mapLimit } from '../core/concurrency';
import type { Config } from '../core/config';
import { createDb, type Db } from '../core/db';
import { createLogger, errorMessage, type Logger } from '../core/logger';
import { decodeBatch, type Envelope } from './envelope';
import { reportExhausted } from './exhaustion';
import { kicker } from './kick';
import { runTry } from './runner';
import type { TaskRegistry } from './task';
import { type ClaimedRun, claimRuns, finishRuns, type Outcome, setProgress, waitingRuns } from './tasks.repo';

export interface ConsumerDeps {
  config: Config;
  env: Env;
  registry: TaskRegistry;
  api: Api;
}

/** Tries in flight at once per invocation; Workers allow 6 connections waiting for headers. */
const RUN_CONCURRENCY = 6;
/** A run's lease outlasts its timeout by this much before another consumer may take it over. */
const LEASE_MARGIN_SECONDS = 30;
const MAX_DELAY_SECONDS = 12 * 60 * 60;

interface Decoded {
  message: Message;
  tasks: Envelope[];
}

/**
 * Consumes one batch of task messages: claims every due run in one statement, runs the tries, records
 * every outcome in one statement, then acks each message whose runs are all finished and retries the
 * others with the shortest wait among their runs. A message that cannot be decoded goes to the dead
 * letter queue. Redelivered runs that already finished are skipped, so a redelivery never runs a
 * finished task again.
 */
export async function processTaskBatch(deps: ConsumerDeps, batch: MessageBatch): Promise<void> {
  const log = createLogger(crypto.randomUUID(), { queue: batch.queue });
  const decoded: Decoded[] = [];
  for (const message of batch.messages) {
    const result = decodeBatch(message.body);
    if (result.ok) decoded.push({ message, tasks: result.tasks });
    else await sendToDeadLetters(deps, message, result.reason, log);
  }
  if (decoded.length === 0) return;

  try {
    await consume(deps, createDb(deps.config), decoded, log);
  } catch (err) {
    // The store is unreachable: nothing was recorded, so every message comes back later.
    log.error('task_batch_failed', { error: errorMessage(err), messages: decoded.length });
    for (const { message } of decoded) message.retry({ delaySeconds: Math.min(10 * 2 ** (message.attempts - 1), 600) });
  }
}

async function consume(deps: ConsumerDeps, db: Db, decoded: Decoded[], log: Logger): Promise<void> {
  const envelopes = new Map(decoded.flatMap((d) => d.tasks.map((t) => [t.id, t] as const)));
  const claimed = await claimRuns(
    db,
    [...envelopes.values()].map((e) => ({ id: e.id, lease: leaseSeconds(deps.registry, e.name), with_args: e.args_in_row === true })),
  );

  const producer = (correlationId: string) => ({
    db,
    queue: deps.env.TASKS_QUEUE,
    registry: deps.registry,
    config: deps.config,
    log: createLogger(correlationId),
  });
  const outcomes = await mapLimit(claimed, RUN_CONCURRENCY, (run: ClaimedRun) =>
    runTry(
      {
        registry: deps.registry,
        config: deps.config,
        env: deps.env,
        api: deps.api,
        kick: (correlationId) => kicker(producer(correlationId)),
        saveProgress: (id, p) => setProgress(db, id, p),
      },
      run,
      envelopes.get(run.id) as Envelope,
    ),
  );
  const finished = await finishRuns(db, outcomes);

  const outcomeById = new Map(outcomes.map((o) => [o.id, o]));
  const unclaimed = [...envelopes.keys()].filter((id) => !outcomeById.has(id));
  const waiting = new Map((await waitingRuns(db, unclaimed)).map((w) => [w.id, w]));

  let acked = 0;
  for (const { message, tasks } of decoded) {
    const waits = tasks.map((t) => waitFor(outcomeById.get(t.id), waiting.get(t.id))).filter((w) => w !== undefined);
    if (waits.length === 0) {
      message.ack();
      acked++;
    } else {
      message.retry({ delaySeconds: Math.min(Math.max(1, Math.min(...waits)), MAX_DELAY_SECONDS) });
    }
  }
  log.info('task_batch', {
    messages: decoded.length,
    envelopes: envelopes.size,
    ran: outcomes.length,
    acked,
    retried: decoded.length - acked,
  });
  const dead = finished.filter((f) => f.status === 'dead').map((f) => ({ ...f, cause: outcomeById.get(f.id)?.cause }));
  if (dead.length) await reportExhausted(deps, dead, log);
}

/** Seconds until an envelope's run needs its message again, or undefined when the run is finished. */
function waitFor(outcome: Outcome | undefined, waiting: { status: string; wait_seconds: number } | undefined): number | undefined {
  if (outcome) return outcome.status === 'failed' ? (outcome.retryInSeconds ?? 1) : undefined;
  if (!waiting || waiting.status === 'succeeded' || waiting.status === 'dead') return undefined;
  return waiting.wait_seconds;
}

function leaseSeconds(registry: TaskRegistry, name: string): number {
  return (registry.get(name)?.timeoutSeconds ?? 60) + LEASE_MARGIN_SECONDS;
}

async function sendToDeadLetters(deps: ConsumerDeps, message: Message, reason: string, log: Logger): Promise<void> {
  try {
    const body = message.body;
    if (body instanceof ArrayBuffer) await deps.env.TASKS_DLQ.send(new Uint8Array(body), { contentType: 'bytes' });
    else if (ArrayBuffer.isView(body))
      await deps.env.TASKS_DLQ.send(new Uint8Array(body.buffer, body.byteOffset, body.byteLength), { contentType: 'bytes' });
    else await deps.env.TASKS_DLQ.send(body, { contentType: 'json' });
    message.ack();
    log.error('task_message_undecodable', { message_id: message.id, reason });
  } catch (err) {
    log.error('dead_letter_send_failed', { message_id: message.id, error: errorMessage(err) });
    message.retry({ delaySeconds: 30 });
  }
}
