import { Buffer } from 'node:buffer';
import type { Api } from 'grammy';
import type { Config } from '../core/config';
import { createDb } from '../core/db';
import { createLogger, errorMessage } from '../core/logger';
import { decodeBatch } from './envelope';
import { reportExhausted } from './exhaustion';
import { DEAD_RUN_TTL_SECONDS } from './runner';
import type { TaskRegistry } from './task';
import { markDead } from './tasks.repo';
import { deadLettersTable } from './tasks.schema';

export interface DeadLetterDeps {
  config: Config;
  api: Api;
  env: Env;
  registry: TaskRegistry;
}

/**
 * Consumes the dead letter queue: messages the task consumer gave up on (retries exhausted) or could
 * not decode. Their runs become `dead` (each task's exhaustion policy applies); undecodable bodies are kept in
 * `dead_letters` for inspection. Nothing is dropped while the store is down: the batch is retried.
 */
export async function processDeadLetterBatch(deps: DeadLetterDeps, batch: MessageBatch): Promise<void> {
  const log = createLogger(crypto.randomUUID(), { queue: batch.queue });
  try {
    const db = createDb(deps.config);
    for (const message of batch.messages) {
      const decoded = decodeBatch(message.body);
      if (decoded.ok) {
        const ended = await markDead(
          db,
          decoded.tasks.map((t) => t.id),
          'dead-lettered: its queue message ran out of deliveries',
          Math.max(deps.config.RESULT_TTL_SECONDS, DEAD_RUN_TTL_SECONDS),
        );
        if (ended.length) await reportExhausted(deps, ended, log);
        log.error('task_message_dead_lettered', { message_id: message.id, runs: decoded.tasks.length, ended: ended.length });
      } else {
        await db.insert(deadLettersTable).values({ queue: batch.queue, reason: decoded.reason, body: toBase64(message.body) });
        log.error('dead_letter_stored', { message_id: message.id, reason: decoded.reason });
      }
      message.ack();
    }
  } catch (err) {
    log.error('dead_letter_batch_failed', { error: errorMessage(err) });
    batch.retryAll({ delaySeconds: 60 });
  }
}

function toBase64(body: unknown): string {
  const bytes =
    body instanceof ArrayBuffer || body instanceof Uint8Array
      ? new Uint8Array(body)
      : new TextEncoder().encode(JSON.stringify(body) ?? 'undefined');
  return Buffer.from(bytes).toString('base64');
}
