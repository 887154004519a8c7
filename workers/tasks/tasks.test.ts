import { createExecutionContext, createMessageBatch, getQueueResult } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { eq, sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import worker from '../index';
import { taskRegistry } from '../registry';
import { withTestDb } from '../testing/db';
import { callApi, json } from '../testing/http';
import { poll } from '../testing/poll';
import { deliveries } from '../testing/telegram';
import { encodeBatch } from './envelope';
import { defineTask } from './task';
import { deadLettersTable, taskRunsTable } from './tasks.schema';

// Test tasks, registered through the public API like any other task.
const calls = new Map<string, number>();
taskRegistry.register(
  defineTask({
    name: 'test_count_calls',
    args: z.object({ label: z.string() }),
    handler: async ({ args, run }) => {
      calls.set(run.id, (calls.get(run.id) ?? 0) + 1);
      return { label: args.label };
    },
  }),
);
taskRegistry.register(
  defineTask({
    name: 'test_always_fails',
    args: z.object({}),
    retry: { maxAttempts: 3, backoffSeconds: [1, 2] },
    handler: async () => {
      throw new Error('boom: the upstream said no');
    },
  }),
);
taskRegistry.register(
  defineTask({
    name: 'test_default_policy_fails',
    args: z.object({}),
    handler: async () => {
      throw new Error('transient');
    },
  }),
);

interface RunJson {
  id: string;
  name: string;
  status: string;
  attempts: number;
  result: unknown;
  error: string | null;
  history: { attempt: number; started_at: string; finished_at: string; error?: string; error_type?: string }[];
  created_at: string;
  finished_at: string | null;
}

async function kickTask(body: unknown): Promise<{ id: string; status: string }> {
  const res = await callApi('/tasks', { body });
  expect(res.status).toBe(202);
  return json(res);
}

async function getRun(id: string): Promise<RunJson> {
  const res = await callApi(`/tasks/${id}`);
  expect(res.status).toBe(200);
  return json(res);
}

function waitForStatus(id: string, status: string, timeoutMs = 10_000): Promise<RunJson> {
  return poll(
    async () => {
      const run = await getRun(id);
      return run.status === status ? run : undefined;
    },
    { timeoutMs, what: `run ${id} to be ${status}` },
  );
}

describe('task runtime', () => {
  it('runs a task kicked over HTTP and stores its result (ping_db reaches Postgres through the injected db)', async () => {
    const kicked = await kickTask({ name: 'ping_db', args: {} });
    expect(kicked.status).toBe('queued');
    const run = await waitForStatus(kicked.id, 'succeeded');
    expect(run.attempts).toBe(1);
    expect((run.result as { version: string }).version).toMatch(/PostgreSQL \d+/);
    expect(run.finished_at).not.toBeNull();
  });

  it('rejects an unknown task and bad arguments with the field named, storing nothing', async () => {
    const unknown = await callApi('/tasks', { body: { name: 'no_such_task', args: {} } });
    expect(unknown.status).toBe(400);
    expect(await json(unknown)).toMatchObject({ field: 'name' });

    const bad = await callApi('/tasks', { body: { name: 'test_count_calls', args: { label: 42 } } });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ error: 'invalid_request', field: 'args.label' });

    const noName = await callApi('/tasks', { body: { args: {} } });
    expect(noName.status).toBe(400);
    expect(await noName.json()).toMatchObject({ field: 'name' });

    const list = await json<{ runs: RunJson[] }>(await callApi('/tasks?name=no_such_task'));
    expect(list.runs).toEqual([]);
  });

  it('answers 400 to malformed JSON', async () => {
    const res = await callApi('/tasks', { body: undefined, method: 'POST' });
    expect(res.status).toBe(400);
  });

  it('never runs an idempotency key twice', async () => {
    const key = `once-${crypto.randomUUID()}`;
    const first = await kickTask({ name: 'test_count_calls', args: { label: 'a' }, idempotency_key: key });
    const second = await kickTask({ name: 'test_count_calls', args: { label: 'a' }, idempotency_key: key });
    expect(second.id).toBe(first.id);
    await waitForStatus(first.id, 'succeeded');
    const third = await kickTask({ name: 'test_count_calls', args: { label: 'a' }, idempotency_key: key });
    expect(third).toEqual({ id: first.id, status: 'succeeded' });
    expect(calls.get(first.id)).toBe(1);
    const page = await json<{ runs: RunJson[] }>(await callApi('/tasks?name=test_count_calls&limit=200'));
    expect(page.runs.filter((r: RunJson) => r.id === first.id)).toHaveLength(1);

    // A key reused for another task is refused, and the call stores nothing of its other tasks either.
    const label = crypto.randomUUID();
    const reused = await callApi('/tasks/bulk', {
      body: {
        tasks: [
          { name: 'test_count_calls', args: { label } },
          { name: 'ping_db', args: {}, idempotency_key: key },
        ],
      },
    });
    expect(reused.status).toBe(409);
    const stored = await withTestDb((db) => db.select().from(taskRunsTable).where(sql`${taskRunsTable.args}->>'label' = ${label}`));
    expect(stored).toEqual([]);
  });

  it('retries a failing task on its schedule, ends it dead and tells each admin once', async () => {
    const kicked = await kickTask({ name: 'test_always_fails', args: {} });
    const run = await waitForStatus(kicked.id, 'dead', 20_000);
    expect(run.attempts).toBe(3);
    expect(run.error).toBe('boom: the upstream said no');
    expect(run.history.map((h) => h.attempt)).toEqual([1, 2, 3]);
    expect(run.history.map((h) => h.error_type)).toEqual(['Error', 'Error', 'Error']);
    const gap = (a: number, b: number) => Date.parse(run.history[b]?.started_at ?? '') - Date.parse(run.history[a]?.finished_at ?? '');
    expect(gap(0, 1)).toBeGreaterThanOrEqual(1000 - 50);
    expect(gap(1, 2)).toBeGreaterThanOrEqual(2000 - 50);

    const admins = env.ADMIN_TELEGRAM_IDS.split(',').map(Number);
    for (const admin of admins) {
      const told = await poll(async () => {
        const sent = (await deliveries(admin)).filter((d) => d.text?.includes(kicked.id));
        return sent.length ? sent : undefined;
      });
      expect(told).toHaveLength(1);
    }
  });

  it('schedules the default policy (3 retries) 10 s, 30 s and 90 s apart, retrying the message until the last try', async () => {
    const { runs } = await json<{ runs: { id: string }[] }>(
      await callApi('/tasks/bulk', { body: { tasks: [{ name: 'test_default_policy_fails', args: {}, delay_seconds: 3600 }] } }),
    );
    const id = runs[0]?.id as string;
    const makeDue = () => withTestDb((db) => db.update(taskRunsTable).set({ nextAttemptAt: sql`now()` }).where(eq(taskRunsTable.id, id)));
    // Hand the run's message to the consumer directly, four times, making the run due in between.
    const envelope = { id, name: 'test_default_policy_fails', args: {}, attempt: 1, correlation_id: 'test', enqueued_at: Date.now() };
    const waits: number[] = [];
    const results: string[] = [];
    for (let attempt = 1; attempt <= 4; attempt++) {
      await makeDue();
      const batch = createMessageBatch('flarecast-tasks', [
        { id: `m${attempt}`, timestamp: new Date(), attempts: attempt, body: encodeBatch([envelope]) },
      ]);
      const ctx = createExecutionContext();
      await worker.queue(batch, env);
      const result = await getQueueResult(batch, ctx);
      results.push(result.retryMessages.length ? 'retry' : result.explicitAcks.length ? 'ack' : 'none');
      const [row] = await withTestDb((db) => db.select().from(taskRunsTable).where(eq(taskRunsTable.id, id)));
      const finished = Date.parse(row?.history.at(-1)?.finished_at ?? '');
      if (row?.status === 'failed') waits.push(Math.round((row.nextAttemptAt.getTime() - finished) / 1000));
    }
    expect(results).toEqual(['retry', 'retry', 'retry', 'ack']);
    expect(waits).toEqual([10, 30, 90]);
    expect((await getRun(id)).status).toBe('dead');
  });

  it('kicks many tasks in one call and runs them all', async () => {
    const tasks = Array.from({ length: 250 }, (_, i) => ({ name: 'test_count_calls', args: { label: `bulk-${i}` } }));
    const res = await callApi('/tasks/bulk', { body: { tasks } });
    expect(res.status).toBe(202);
    const { runs } = await json<{ runs: { id: string }[] }>(res);
    expect(new Set(runs.map((r) => r.id)).size).toBe(250);
    await poll(async () => (runs.every((r) => calls.get(r.id) === 1) ? true : undefined), { timeoutMs: 20_000, what: 'all 250 runs' });
  });

  it('sends an undecodable message to the dead letter queue, where it is kept', async () => {
    const marker = crypto.randomUUID();
    await env.TASKS_QUEUE.send(new TextEncoder().encode(`not msgpack ${marker}`), { contentType: 'bytes' });
    const encoded = btoa(`not msgpack ${marker}`);
    const row = await poll(async () => {
      const rows = await withTestDb((db) => db.select().from(deadLettersTable));
      return rows.find((r) => r.body === encoded);
    });
    expect(row.reason).toMatch(/msgpack|invalid batch/);
  });

  it('lists runs newest first with a cursor', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await kickTask({ name: 'test_count_calls', args: { label: `page-${i}` } })).id);
    type Page = { runs: RunJson[]; next_cursor: string | null };
    const first = await json<Page>(await callApi('/tasks?name=test_count_calls&limit=2'));
    expect(first.runs.map((r) => r.id)).toEqual([ids[2], ids[1]]);
    const second = await json<Page>(await callApi(`/tasks?name=test_count_calls&limit=2&cursor=${first.next_cursor}`));
    expect(second.runs[0]?.id).toBe(ids[0]);
  });
});
