import { createExecutionContext, createMessageBatch, getQueueResult } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { getConfig } from '../core/config';
import { createDb } from '../core/db';
import { createLogger } from '../core/logger';
import worker from '../index';
import { taskRegistry } from '../registry';
import { withTestDb } from '../testing/db';
import { call, callApi, json } from '../testing/http';
import { insertRun, runWithStatus, storedRun } from '../testing/runs';
import { type Envelope, encodeBatch } from './envelope';
import { kickMany } from './kick';
import { defineTask, TaskRegistry } from './task';
import { deadLettersTable, type TaskRun, taskRunsTable } from './tasks.schema';

const row = async (id: string) => (await storedRun(id)) as TaskRun;

const envelope = (id: string, name = 'echo'): Envelope => ({
  id,
  name,
  args: {},
  attempt: 1,
  correlation_id: 'edge',
  enqueued_at: Date.now(),
});

async function consume(bodies: unknown[], queue = 'flarecast-tasks') {
  const batch = createMessageBatch(
    queue,
    bodies.map((body, i) => ({ id: `m${i}`, timestamp: new Date(), attempts: 1, body })),
  );
  const ctx = createExecutionContext();
  await worker.queue(batch, env);
  return getQueueResult(batch, ctx);
}

describe('consumer edge cases', () => {
  it('acks a message whose runs are already finished or unknown, and retries one waiting for its time', async () => {
    const finished = await insertRun({ name: 'echo', status: 'succeeded' });
    const waiting = await insertRun({ name: 'echo', status: 'failed', nextAttemptAt: sql`now() + interval '40 seconds'` });
    const result = await consume([encodeBatch([envelope(finished), envelope(crypto.randomUUID())]), encodeBatch([envelope(waiting)])]);
    expect(result.explicitAcks).toEqual(['m0']);
    expect(result.retryMessages.map((m) => m.msgId)).toEqual(['m1']);
    expect((await row(waiting)).attempts).toBe(0);
  });

  it('leaves a run leased to a live consumer alone and takes over one whose lease expired', async () => {
    const live = await insertRun({ name: 'echo', status: 'running', attempts: 1, nextAttemptAt: sql`now() + interval '60 seconds'` });
    const orphan = await insertRun({ name: 'echo', status: 'running', attempts: 1, nextAttemptAt: sql`now() - interval '1 second'` });
    const result = await consume([encodeBatch([envelope(live)]), encodeBatch([envelope(orphan)])]);
    expect(result.retryMessages.map((m) => m.msgId)).toEqual(['m0']);
    expect(await row(live)).toMatchObject({ status: 'running', attempts: 1 });
    expect(await row(orphan)).toMatchObject({ status: 'succeeded', attempts: 2 });
  });

  it('ends a run dead when its last try never reported back, when its task is gone, or its args no longer fit', async () => {
    const exhausted = await insertRun({
      name: 'echo',
      status: 'running',
      attempts: 3,
      maxAttempts: 3,
      nextAttemptAt: sql`now() - interval '1 second'`,
    });
    const gone = await insertRun({ name: 'retired_task' });
    const misfit = await insertRun({ name: 'ping_db' });
    await consume([
      encodeBatch([envelope(exhausted), envelope(gone, 'retired_task'), { ...envelope(misfit, 'ping_db'), args: { unexpected: true } }]),
    ]);
    expect(await row(exhausted)).toMatchObject({ status: 'dead', error: 'no try left: try 3 never reported back' });
    expect(await row(gone)).toMatchObject({ status: 'dead', error: 'unknown task "retired_task"' });
    expect((await row(misfit)).status).toBe('dead');
    // Each failure keeps its kind, and /metrics counts failures by task and kind.
    const kinds = await Promise.all([exhausted, gone, misfit].map(async (id) => (await row(id)).history.at(-1)?.error_type));
    expect(kinds).toEqual(['lease_expired', 'unknown_task', 'invalid_args']);
    const metrics = await (await call('/metrics', { headers: { authorization: `Bearer ${env.METRICS_TOKEN}` } })).text();
    expect(metrics).toMatch(/^flarecast_task_errors_total\{task="retired_task",type="unknown_task"\} [1-9]\d*$/m);
    expect(metrics).toMatch(/^flarecast_task_errors_total\{task="ping_db",type="invalid_args"\} [1-9]\d*$/m);
  });

  it('sends a JSON body it cannot read to the dead letter queue', async () => {
    const marker = crypto.randomUUID();
    const result = await consume([{ not: 'msgpack', marker }]);
    expect(result.explicitAcks).toEqual(['m0']);
    const encoded = btoa(JSON.stringify({ not: 'msgpack', marker }));
    await expect
      .poll(async () => (await withTestDb((db) => db.select().from(deadLettersTable))).some((r) => r.body === encoded), { timeout: 15_000 })
      .toBe(true);
  });

  it('retries the dead letter batch while the store is down', async () => {
    const batch = createMessageBatch('flarecast-tasks-dlq', [{ id: 'd', timestamp: new Date(), attempts: 1, body: new Uint8Array([1]) }]);
    const ctx = createExecutionContext();
    await worker.queue(batch, { ...env, DATABASE_URL: 'postgres://x:y@127.0.0.1:9/none' });
    expect((await getQueueResult(batch, ctx)).retryBatch.retry).toBe(true);
  });
});

describe('kick edge cases', () => {
  it('refuses a delay past 12 hours and a key repeated within one call, naming the field', async () => {
    const late = await callApi('/tasks', { body: { name: 'echo', args: {}, delay_seconds: 13 * 3600 } });
    expect(late.status).toBe(400);
    expect(await json(late)).toMatchObject({ field: 'delay_seconds' });
    const key = crypto.randomUUID();
    const twice = await callApi('/tasks/bulk', {
      body: {
        tasks: [
          { name: 'echo', idempotency_key: key },
          { name: 'echo', idempotency_key: key },
        ],
      },
    });
    expect(twice.status).toBe(400);
    expect(await json(twice)).toMatchObject({ field: 'tasks.1.idempotency_key' });
  });

  it('runs a task whose arguments are too large for a queue message: they travel in its row', async () => {
    const label = crypto.randomUUID();
    const blob = 'x'.repeat(70 * 1024);
    const res = await callApi('/tasks', { body: { name: 'echo', args: { label, blob } } });
    expect(res.status).toBe(202);
    const run = await runWithStatus((await json<{ id: string }>(res)).id, 'succeeded');
    expect(run.result).toEqual({ label, blob });
  });

  it('stores nothing and answers 503 when the queue refuses the tasks', async () => {
    const config = getConfig(env);
    const refusing = { sendBatch: async () => Promise.reject(new Error('queue unavailable')) } as unknown as Queue;
    const label = crypto.randomUUID();
    const kick = kickMany({ db: createDb(config), queue: refusing, registry: taskRegistry, config, log: createLogger('edge') }, [
      { name: 'echo', args: { label } },
    ]);
    await expect(kick).rejects.toMatchObject({ kind: 'unavailable', code: 'queue_unavailable' });
    const stored = await withTestDb((db) => db.select().from(taskRunsTable).where(sql`${taskRunsTable.args}->>'label' = ${label}`));
    expect(stored).toEqual([]);
  });
});

describe('task definitions', () => {
  it('refuses names that are not snake_case, empty policies and a name defined twice', () => {
    const handler = async () => null;
    expect(() => defineTask({ name: 'Bad-Name', args: z.object({}), handler })).toThrow(/snake_case/);
    expect(() => defineTask({ name: 'no_tries', args: z.object({}), retry: { maxAttempts: 0 }, handler })).toThrow(/maxAttempts/);
    const task = defineTask({ name: 'twice', args: z.object({}), handler });
    expect(() => new TaskRegistry([task, task])).toThrow(/defined twice/);
    // A consumer invocation lasts 15 minutes: a run of 900 s could not be recorded.
    expect(() => defineTask({ name: 'too_long', args: z.object({}), timeoutSeconds: 900, handler })).toThrow(/at most 720 s/);
    expect(Math.max(...taskRegistry.names().map((n) => taskRegistry.get(n)?.timeoutSeconds ?? 0))).toBeLessThanOrEqual(720);
  });
});
