import { env } from 'cloudflare:workers';
import { Cron } from 'croner';
import { like, sql } from 'drizzle-orm';
import { afterEach, describe, expect, it, vi } from 'vitest';
import worker from '../index';
import { taskRegistry } from '../registry';
import { enqueue } from '../tasks/kick';
import { type TaskRun, taskRunsTable } from '../tasks/tasks.schema';
import { outboxDrained } from '../testing/alerts';
import { withTestDb } from '../testing/db';
import { poll } from '../testing/poll';
import { kickOverHttp, runWithStatus } from '../testing/runs';
import { deliveries } from '../testing/telegram';
import { schedules } from './schedules';

const admins = env.ADMIN_TELEGRAM_IDS.split(',').map(Number);
const crons = [...new Set(schedules.map((s) => s.cron))];
const panelTasks = new Set(taskRegistry.names().filter((n) => taskRegistry.get(n)?.requires.includes('panel')));

const configurePanel = async (patch: Record<string, unknown>) =>
  expect((await fetch(`${env.REMNAWAVE_URL}/__control/config`, { method: 'POST', body: JSON.stringify(patch) })).ok).toBe(true);

/** The cron triggers due in each minute of the hour starting at `hour`. */
function triggersOf(hour: number): { cron: string; at: Date }[] {
  return Array.from({ length: 60 }, (_, m) => new Date(hour + m * 60_000)).flatMap((at) =>
    crons.filter((cron) => new Cron(cron, { timezone: 'UTC', paused: true }).match(at)).map((cron) => ({ cron, at })),
  );
}

/** Fires every cron trigger of the hour starting at `hour`, a minute apart in scheduled time. */
async function fireHour(hour: number, bindings: Env): Promise<void> {
  for (const { cron, at } of triggersOf(hour))
    await worker.scheduled({ cron, scheduledTime: at.getTime(), noRetry: () => {} } as ScheduledController, bindings);
}

const runsOf = (hourIso: string) =>
  withTestDb((db) =>
    db
      .select()
      .from(taskRunsTable)
      .where(like(taskRunsTable.idempotencyKey, `cron:%:${hourIso.slice(0, 13)}%`)),
  );

/**
 * Waits until every run of the hour has finished a try, then makes the ones waiting for a retry due
 * and hands them to the queue again (the retry waits are minutes long; their order is what counts),
 * until each run has succeeded or used up its tries.
 */
async function settle(hourIso: string): Promise<TaskRun[]> {
  // Tries each run has had when it was last handed over: the next round waits for one more.
  const handed = new Map<string, number>();
  for (let round = 0; round < 8; round++) {
    const runs = await poll(
      async () => {
        const rows = await runsOf(hourIso);
        const done = rows.every((r) => r.status !== 'queued' && r.status !== 'running' && r.attempts > (handed.get(r.id) ?? 0));
        return done ? rows : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 250, what: `the runs of ${hourIso} to finish their tries` },
    );
    const waiting = runs.filter((r) => r.status === 'failed');
    if (waiting.length === 0) return runs;
    for (const r of waiting) handed.set(r.id, r.attempts);
    await withTestDb((db) =>
      db.execute(
        sql`update task_runs set next_attempt_at = now() where id in (select jsonb_array_elements_text(${JSON.stringify(waiting.map((r) => r.id))}::jsonb)::uuid)`,
      ),
    );
    await enqueue(
      env.TASKS_QUEUE,
      waiting.map((r) => ({
        id: r.id,
        name: r.name,
        args: r.args,
        correlationId: r.correlationId,
        delaySeconds: 0,
        attempt: r.attempts + 1,
      })),
    );
  }
  throw new Error('runs still retrying after 8 rounds');
}

const adminTexts = async (since: number[]) =>
  Promise.all(admins.map(async (id, i) => (await deliveries(id)).slice(since[i]).map((d) => d.text ?? '')));

afterEach(() => vi.restoreAllMocks());

describe('jobs in production', () => {
  it('with the panel unreachable for an hour of every cron, tells the admins at most 3 messages: the outage, its severity, its recovery', async () => {
    // Settle what earlier files left (service states, anomalies) before counting.
    await runWithStatus(await kickOverHttp('check_services'), 'succeeded');
    await runWithStatus(await kickOverHttp('detect_anomalies'), 'succeeded');
    const before = await Promise.all(admins.map(async (id) => (await deliveries(id)).length));
    const hour = Date.UTC(2033, 0, 1 + Math.floor(Math.random() * 300), 10);
    const hourIso = new Date(hour).toISOString();

    await configurePanel({ down: true });
    let runs: TaskRun[];
    try {
      await fireHour(hour, env);
      runs = await settle(hourIso);
    } finally {
      await configurePanel({ down: false });
    }

    // Every panel job's runs gave up (or had nothing to ask the panel); nothing is left retrying.
    const byTask = Map.groupBy(runs, (r) => r.name);
    expect(byTask.get('check_node_health')?.map((r) => r.status)).toEqual(Array(30).fill('dead'));
    expect(byTask.get('collect_bandwidth')?.map((r) => r.status)).toEqual(Array(12).fill('dead'));
    expect(byTask.get('disable_expired_users')?.map((r) => r.status)).toEqual(Array(4).fill('dead'));
    expect(byTask.get('check_services')?.map((r) => r.status)).toEqual(Array(60).fill('succeeded'));
    for (const r of runs) expect(['succeeded', 'dead'], r.name).toContain(r.status);

    const during = await adminTexts(before);
    expect(during[1]).toEqual(during[0]);
    const [outage] = during;
    expect(outage?.length).toBeGreaterThanOrEqual(1);
    expect(outage?.length).toBeLessThanOrEqual(2);
    for (const text of outage ?? []) expect(text).toContain('remnawave');
    expect(outage?.at(-1)).toMatch(/^🚨 CRITICAL/);

    // The panel answers again: one "resolved" once the check passes (its breaker may hold it off for BREAKER_OPEN_SECONDS).
    await poll(
      async () => {
        const run = await runWithStatus(await kickOverHttp('check_services'), 'succeeded');
        return (run.result as Record<string, string>).remnawave === 'up' ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 1000, what: 'the panel check to pass' },
    );
    const all = await poll(
      async () => {
        const texts = (await adminTexts(before))[0] ?? [];
        return texts.length === (outage?.length ?? 0) + 1 ? texts : undefined;
      },
      { what: 'the resolved message' },
    );
    expect(all.length).toBeLessThanOrEqual(3);
    expect(all.at(-1)).toMatch(/^✅ Resolved: remnawave answers again after \d+ min \(\d+ failure\(s\) counted\)$/);
    // Every admin has it: nothing of this outage is left in the outbox for later.
    await outboxDrained();
    expect((await adminTexts(before)).map((texts) => texts.length)).toEqual(admins.map(() => all.length));
  }, 240_000);

  it('with REMNAWAVE_URL empty, kicks no panel job in an hour of every cron and alerts nothing', async () => {
    const unconfigured = { ...env, REMNAWAVE_URL: '' } as Env;
    const before = await Promise.all(admins.map(async (id) => (await deliveries(id)).length));
    const lines = vi.spyOn(console, 'log');
    const hour = Date.UTC(2034, 0, 1 + Math.floor(Math.random() * 300), 10);
    const hourIso = new Date(hour).toISOString();
    await fireHour(hour, unconfigured);

    const runs = await settle(hourIso);
    expect(runs.filter((r) => panelTasks.has(r.name))).toEqual([]);
    const kicked = new Set(runs.map((r) => r.name));
    expect(kicked).toContain('check_services');
    expect(kicked).toContain('verify_pending_payments');
    // One info line per cron run that had panel jobs, naming them and the variable.
    const skipped = lines.mock.calls
      .flatMap(([line]) => {
        try {
          return [JSON.parse(String(line)) as { event: string; level: string; tasks: string[]; unset: string[] }];
        } catch {
          return [];
        }
      })
      .filter((l) => l.event === 'cron_skipped_unconfigured');
    const panelTriggers = triggersOf(hour).filter(({ cron }) => schedules.some((s) => s.cron === cron && panelTasks.has(s.task)));
    expect(skipped.length).toBe(panelTriggers.length);
    for (const l of skipped) expect(l).toMatchObject({ level: 'info', unset: ['REMNAWAVE_URL'] });
    expect(new Set(skipped.flatMap((l) => l.tasks))).toEqual(
      new Set(schedules.filter((s) => panelTasks.has(s.task) && panelTriggers.some((t) => t.cron === s.cron)).map((s) => s.task)),
    );
    expect(await adminTexts(before)).toEqual([[], []]);
  }, 180_000);
});
