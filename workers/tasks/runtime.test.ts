import { createExecutionContext, createMessageBatch, getQueueResult } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import worker from '../index';
import { taskRegistry } from '../registry';
import { admin } from '../testing/admin-chat';
import { outboxDrained } from '../testing/alerts';
import { withTestDb } from '../testing/db';
import { insertRun, kickOverHttp, runWithStatus, storedRun } from '../testing/runs';
import { deliveries } from '../testing/telegram';
import { encodeBatch } from './envelope';
import { defineTask, PermanentTaskError } from './task';
import type { TaskRun, TaskStatus } from './tasks.schema';

taskRegistry.register(
  defineTask({
    name: 'test_parent',
    args: z.object({ children: z.number().int() }),
    handler: async ({ args, kick, progress }) => {
      const ids: string[] = [];
      for (let i = 0; i < args.children; i++) {
        ids.push((await kick('test_child', { n: i })).id);
        await progress({ done: i + 1, total: args.children });
      }
      return { children: ids };
    },
  }),
);
taskRegistry.register(defineTask({ name: 'test_child', args: z.object({ n: z.number() }), handler: async ({ args }) => args.n * 2 }));
taskRegistry.register(
  defineTask({
    name: 'test_refuses',
    args: z.object({}),
    handler: async () => {
      throw new PermanentTaskError('cannot ever work');
    },
  }),
);
taskRegistry.register(
  defineTask({
    name: 'test_slow',
    args: z.object({}),
    retry: { maxAttempts: 1 },
    timeoutSeconds: 1,
    handler: ({ signal }) => new Promise((resolve) => signal.addEventListener('abort', () => resolve('too late'))),
  }),
);

const row = async (id: string) => (await storedRun(id)) as TaskRun;
const kick = kickOverHttp;
const until = (id: string, status: TaskStatus) => runWithStatus(id, status);

describe('task context', () => {
  it('lets a task kick other tasks and report progress; children carry its correlation id', async () => {
    const id = await kick('test_parent', { children: 3 });
    const parent = await until(id, 'succeeded');
    expect(parent.progress).toEqual({ done: 3, total: 3 });
    const children = (parent.result as { children: string[] }).children;
    for (const [i, child] of children.entries()) {
      const done = await until(child, 'succeeded');
      expect(done.result).toBe(i * 2);
      expect(done.correlationId).toBe(parent.correlationId);
    }
  });

  it('ends a run dead at once on a permanent error', async () => {
    const run = await until(await kick('test_refuses'), 'dead');
    expect(run).toMatchObject({ attempts: 1, error: 'cannot ever work' });
  });

  it('fails a try that outlives its timeout', async () => {
    const run = await until(await kick('test_slow'), 'dead');
    expect(run.error).toBe('timed out after 1 s');
  });
});

describe('housekeeping tasks', () => {
  it('cleanup_task_results removes exactly the finished runs past their expiry', async () => {
    const expired = sql`now() - interval '1 minute'`;
    const gone = [
      await insertRun({ name: 'ping_db', status: 'succeeded', expiresAt: expired }),
      await insertRun({ name: 'ping_db', status: 'dead', expiresAt: expired }),
    ];
    const kept = [
      await insertRun({ name: 'ping_db', status: 'succeeded' }),
      await insertRun({ name: 'ping_db', status: 'failed', expiresAt: expired, nextAttemptAt: sql`now() + interval '1 hour'` }),
    ];
    const cleanup = await until(await kick('cleanup_task_results', { batch: 1 }), 'succeeded');
    expect((cleanup.result as { deleted: number }).deleted).toBe(2);
    for (const id of gone) expect(await row(id)).toBeUndefined();
    for (const id of kept) expect(await row(id)).toBeDefined();
  });

  it('requeue_stale_runs runs a task whose queue message was lost', async () => {
    const lost = await insertRun({ name: 'ping_db', nextAttemptAt: sql`now() - interval '1 hour'` });
    await until(await kick('requeue_stale_runs', { older_than_seconds: 900 }), 'succeeded');
    const run = await until(lost, 'succeeded');
    expect((run.result as { version: string }).version).toContain('PostgreSQL');
  });

  it('cleanup_telegram_updates forgets old update ids', async () => {
    await withTestDb((db) =>
      db.execute(sql`insert into telegram_updates (update_id, received_at) values (1, now() - interval '30 days') on conflict do nothing`),
    );
    const run = await until(await kick('cleanup_telegram_updates', { days: 7 }), 'succeeded');
    expect((run.result as { deleted: number }).deleted).toBe(1);
  });
});

describe('queue failure paths', () => {
  it('marks the runs of a dead-lettered message dead and tells the admins once', async () => {
    const id = await insertRun({ name: 'ping_db', nextAttemptAt: sql`now() + interval '1 hour'` });
    const body = encodeBatch([{ id, name: 'ping_db', args: {}, attempt: 1, correlation_id: 'test', enqueued_at: Date.now() }]);
    for (const attempt of [1, 2]) {
      const batch = createMessageBatch('flarecast-tasks-dlq', [{ id: `dlq-${attempt}`, timestamp: new Date(), attempts: 1, body }]);
      const ctx = createExecutionContext();
      await worker.queue(batch, env);
      expect((await getQueueResult(batch, ctx)).explicitAcks).toEqual([`dlq-${attempt}`]);
    }
    expect(await row(id)).toMatchObject({ status: 'dead', error: expect.stringContaining('dead-lettered') });
    // Admin messages leave through the incidents object's outbox: wait until it has sent them all.
    await outboxDrained();
    expect((await deliveries(admin)).filter((d) => d.text?.includes(id))).toHaveLength(1);
  });

  it('retries every message, running nothing, while the store is down', async () => {
    const body = encodeBatch([
      { id: crypto.randomUUID(), name: 'ping_db', args: {}, attempt: 1, correlation_id: 'test', enqueued_at: Date.now() },
    ]);
    const batch = createMessageBatch('flarecast-tasks', [
      { id: 'a', timestamp: new Date(), attempts: 1, body },
      { id: 'b', timestamp: new Date(), attempts: 2, body },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, { ...env, DATABASE_URL: 'postgres://x:y@127.0.0.1:9/none' });
    const result = await getQueueResult(batch, ctx);
    expect(result.retryMessages.map((m) => m.msgId).sort()).toEqual(['a', 'b']);
    expect(result.explicitAcks).toEqual([]);
  });
});
