import { env } from 'cloudflare:workers';
import { inArray } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import wranglerToml from '../../wrangler.toml?raw';
import worker from '../index';
import { taskRegistry } from '../registry';
import { taskRunsTable } from '../tasks/tasks.schema';
import { withTestDb } from '../testing/db';
import { schedules } from './schedules';

const tomlCrons = [...(/^crons\s*=\s*\[(.*)\]/m.exec(wranglerToml)?.[1] ?? '').matchAll(/"([^"]+)"/g)].map((m) => m[1]);

describe('schedules', () => {
  it('lists exactly the crons wrangler.toml triggers, and only tasks that exist', () => {
    expect(new Set(tomlCrons)).toEqual(new Set(schedules.map((s) => s.cron)));
    for (const s of schedules) expect(taskRegistry.get(s.task), s.task).toBeDefined();
  });

  it('kicks every task of a cron once, even when the trigger fires twice', async () => {
    const cron = schedules[0]?.cron as string;
    const scheduledTime = Date.UTC(2030, 0, 1, 0, Math.floor(Math.random() * 60));
    const controller = { cron, scheduledTime, noRetry: () => {} } as ScheduledController;
    await worker.scheduled(controller, env);
    await worker.scheduled(controller, env);
    const minute = new Date(scheduledTime).toISOString();
    const keys = schedules.filter((s) => s.cron === cron).map((s) => `cron:${s.task}:${minute}`);
    const runs = await withTestDb((db) => db.select().from(taskRunsTable).where(inArray(taskRunsTable.idempotencyKey, keys)));
    expect(runs.map((r) => r.name).sort()).toEqual(
      schedules
        .filter((s) => s.cron === cron)
        .map((s) => s.task)
        .sort(),
    );
  });

  it('tries the kick again when the queue refuses it for a moment: a trigger is not delivered twice', async () => {
    const cron = schedules[0]?.cron as string;
    const scheduledTime = Date.UTC(2031, 0, 1, 0, Math.floor(Math.random() * 60));
    let refusals = 1;
    const flaky = {
      sendBatch: (messages: Iterable<MessageSendRequest>, opts?: QueueSendBatchOptions) =>
        refusals-- > 0 ? Promise.reject(new Error('Queue sendBatch failed: internal error')) : env.TASKS_QUEUE.sendBatch(messages, opts),
    } as unknown as Queue;
    await worker.scheduled({ cron, scheduledTime, noRetry: () => {} } as ScheduledController, { ...env, TASKS_QUEUE: flaky });
    const minute = new Date(scheduledTime).toISOString();
    const keys = schedules.filter((s) => s.cron === cron).map((s) => `cron:${s.task}:${minute}`);
    const runs = await withTestDb((db) => db.select().from(taskRunsTable).where(inArray(taskRunsTable.idempotencyKey, keys)));
    expect(runs).toHaveLength(keys.length);
  });

  it('ignores a cron with no schedule', async () => {
    await expect(
      worker.scheduled({ cron: '1 2 3 4 5', scheduledTime: Date.now(), noRetry: () => {} } as ScheduledController, env),
    ).resolves.toBeUndefined();
  });
});
