import { env } from 'cloudflare:workers';
import { describe, expect, it, vi } from 'vitest';
import { getConfig } from '../core/config';
import { createDb } from '../core/db';
import { taskRegistry } from '../registry';
import { runTry } from '../tasks/runner';
import { setProgress } from '../tasks/tasks.repo';
import { botApi } from '../telegram/outbound';
import { admin } from '../testing/admin-chat';
import { callApi, json } from '../testing/http';
import { poll } from '../testing/poll';
import { storedRun } from '../testing/runs';
import { deliveries } from '../testing/telegram';

const panel = env.REMNAWAVE_URL;
let nextId = 300_000 + Math.floor(Math.random() * 1000) * 1000;

interface Job {
  job_id: string;
  status: string;
  total: number;
  processed: number;
  failed: number;
  failures: { id: number; reason: string }[];
}

async function seedPanelUsers(n: number): Promise<number[]> {
  const ids = Array.from({ length: n }, () => ++nextId);
  const users = ids.map((id) => ({
    id,
    username: `bulk_${id}`,
    status: 'ACTIVE',
    expireAt: new Date(Date.now() + 30 * 86_400_000).toISOString(),
  }));
  const res = await fetch(`${panel}/__control/users`, { method: 'POST', body: JSON.stringify({ users }) });
  expect(res.ok).toBe(true);
  return ids;
}

const statuses = async (ids: number[]) => {
  const { users } = (await (await fetch(`${panel}/__control/users`)).json()) as { users: { id: number; status: string }[] };
  const set = new Set(ids);
  return users.filter((u) => set.has(u.id)).map((u) => u.status);
};

const untilDone = (id: string) =>
  poll(
    async () => {
      const j = await json<Job>(await callApi(`/bulk/${id}`));
      return j.status === 'completed' ? j : undefined;
    },
    { what: 'the bulk job', timeoutMs: 20_000 },
  );

describe('bulk user operations', () => {
  it('disables 500 users in chunks with progress, listing the 10 the panel does not have', async () => {
    const ids = await seedPanelUsers(490);
    const missing = Array.from({ length: 10 }, (_, i) => 900_000_000 + i);
    const before = (await deliveries(admin)).length;
    const res = await callApi('/bulk/users', { body: { operation: 'disable', user_ids: [...ids, ...missing, ...ids.slice(0, 20)] } });
    expect(res.status).toBe(202);
    const { job_id } = await json<{ job_id: string }>(res);
    // Progress is written after each chunk of 50; watch it grow.
    const seen = new Set<number>();
    await poll(
      async () => {
        const j = await json<Job>(await callApi(`/bulk/${job_id}`));
        seen.add(j.processed);
        return j.status === 'completed' ? j : undefined;
      },
      { intervalMs: 20, timeoutMs: 20_000 },
    );
    const done = await untilDone(job_id);
    expect(done).toMatchObject({ total: 500, processed: 490, failed: 10 });
    expect(done.failures.map((f) => f.id).sort()).toEqual(missing);
    expect(done.failures.every((f) => f.reason === 'user not found')).toBe(true);
    expect(new Set(await statuses(ids))).toEqual(new Set(['DISABLED']));
    const calls = (await (await fetch(`${panel}/__control/calls?path=/api/users/bulk/update`)).json()) as {
      calls: { body: { userIds: number[] } }[];
    };
    expect(calls.calls.filter((c) => ids.includes(c.body.userIds[0] as number)).map((c) => c.body.userIds.length)).toEqual([
      ...Array(9).fill(50),
      40,
    ]);
    const summary = await poll(async () => (await deliveries(admin)).slice(before).find((d) => d.text?.includes('Bulk disable')));
    expect(summary.text).toContain('490 of 500 users done, 10 failed');
    expect((await storedRun(job_id))?.progress).toMatchObject({ total: 500, done: 500, processed: 490, failed: 10 });
  });

  it('goes on user by user when the panel refuses a chunk: only the refused user fails', async () => {
    const ids = await seedPanelUsers(120);
    const bad = ids[70] as number;
    await fetch(`${panel}/__control/config`, { method: 'POST', body: JSON.stringify({ refuseIds: [bad] }) });
    try {
      const res = await callApi('/bulk/users', { body: { operation: 'disable', user_ids: ids } });
      const done = await untilDone((await json<{ job_id: string }>(res)).job_id);
      expect(done).toMatchObject({ total: 120, processed: 119, failed: 1 });
      expect(done.failures).toEqual([{ id: bad, reason: expect.stringContaining('HTTP 400') }]);
      const after = new Map(
        ((await (await fetch(`${panel}/__control/users`)).json()) as { users: { id: number; status: string }[] }).users.map((u) => [
          u.id,
          u.status,
        ]),
      );
      expect(ids.filter((id) => after.get(id) === 'DISABLED')).toEqual(ids.filter((id) => id !== bad));
      expect(after.get(bad)).toBe('ACTIVE');
    } finally {
      await fetch(`${panel}/__control/config`, { method: 'POST', body: JSON.stringify({ refuseIds: [] }) });
    }
  });

  it('goes on without progress when its progress cannot be written (the store is unreachable)', async () => {
    const ids = await seedPanelUsers(60);
    const config = getConfig(env);
    // A real handle to a database that does not answer: every progress write fails.
    const unreachable = createDb({ ...config, DATABASE_URL: 'postgres://nobody:x@127.0.0.1:9/none' });
    const warnings = vi.spyOn(console, 'warn');
    const id = crypto.randomUUID();
    const args = { operation: 'reset_traffic', user_ids: ids, requested_by: admin };
    const outcome = await runTry(
      {
        registry: taskRegistry,
        config,
        env,
        api: botApi(config, env),
        kick: () => async () => ({ id: 'none' }),
        saveProgress: (runId, p) => setProgress(unreachable, runId, p),
      },
      { id, name: 'bulk_user_operation', attempts: 1, max_attempts: 1, correlation_id: 'degraded' },
      { id, name: 'bulk_user_operation', args, attempt: 1, correlation_id: 'degraded', enqueued_at: Date.now() },
    );
    expect(outcome).toMatchObject({ status: 'succeeded', result: { total: 60, processed: 60, failed: 0 } });
    const lost = warnings.mock.calls.map(([l]) => String(l)).filter((l) => l.includes('"progress_not_saved"'));
    warnings.mockRestore();
    // Both chunks' writes failed, each was logged, and the job went on to the end.
    expect(lost.map((l) => JSON.parse(l))).toEqual([
      expect.objectContaining({ level: 'warn', task: 'bulk_user_operation', run_id: id, done: 50, total: 60 }),
      expect.objectContaining({ level: 'warn', task: 'bulk_user_operation', run_id: id, done: 60, total: 60 }),
    ]);
  });

  it('completes an empty list at once, and streams progress then done', async () => {
    const { job_id } = await json<{ job_id: string }>(await callApi('/bulk/users', { body: { operation: 'enable', user_ids: [] } }));
    expect(await untilDone(job_id)).toMatchObject({ total: 0, processed: 0, failed: 0, failures: [] });
    const res = await callApi(`/bulk/${job_id}/events`);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const text = await res.text();
    expect(text).toContain('event: progress');
    expect(text).toContain('event: done');
  });

  it('takes the 100,000 ids it advertises, far past what one queue message holds (the run reads them from its row)', async () => {
    const ids = await seedPanelUsers(3);
    // Five msgpack bytes each: ~500 KB of arguments, where a queue message takes 60 KB.
    const unknown = Array.from({ length: 100_000 - 3 }, (_, i) => 10_000_000 + i);
    const res = await callApi('/bulk/users', { body: { operation: 'disable', user_ids: [...ids, ...unknown] } });
    expect(res.status).toBe(202);
    const done = await untilDone((await json<{ job_id: string }>(res)).job_id);
    expect(done).toMatchObject({ total: 100_000, processed: 3, failed: 100_000 - 3 });
    expect(await statuses(ids)).toEqual(['DISABLED', 'DISABLED', 'DISABLED']);
  });

  it('refuses an unknown operation naming the field, and an unknown job with 404', async () => {
    const bad = await callApi('/bulk/users', { body: { operation: 'explode', user_ids: [1] } });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ field: 'operation' });
    expect((await callApi('/bulk/00000000-0000-7000-8000-000000000000')).status).toBe(404);
  });

  it('enables, resets traffic and deletes through their bulk routes', async () => {
    const ids = await seedPanelUsers(3);
    const runOp = async (operation: string) => {
      const { job_id } = await json<{ job_id: string }>(await callApi('/bulk/users', { body: { operation, user_ids: ids } }));
      return untilDone(job_id);
    };
    expect(await runOp('disable')).toMatchObject({ processed: 3 });
    expect(await runOp('enable')).toMatchObject({ processed: 3 });
    expect(new Set(await statuses(ids))).toEqual(new Set(['ACTIVE']));
    expect(await runOp('reset_traffic')).toMatchObject({ processed: 3, failed: 0 });
    expect(await runOp('delete')).toMatchObject({ processed: 3 });
    expect(await statuses(ids)).toEqual([]);
  });
});
