import { describe, expect, it } from 'vitest';
import readme from '../../README.md?raw';
import { taskRegistry } from '../registry';
import { schedules } from './schedules';

type Row = [task: string, retries: number, backoffSeconds: number[], crons: string[], onExhausted: string, needs: string[]];

/**
 * Every registered task's retry policy, cron and exhaustion policy, as the seed's tables (§10 and the
 * capabilities) ask: `retries` counts the retries after the first try, with one backoff step per
 * retry (a fixed backoff lists one step). README's jobs table says the same, with the reasons where
 * it differs from the seed on purpose.
 */
const table: Row[] = [
  ['aggregate_bandwidth', 1, [0], ['5 * * * *'], 'skip', []],
  ['auto_renew_subscriptions', 3, [60], ['*/30 * * * *'], 'alert', ['panel', 'payments']],
  ['bulk_notify', 2, [60], [], 'alert', []],
  ['bulk_user_operation', 0, [0], [], 'alert', ['panel']],
  ['check_node_health', 2, [15], ['*/2 * * * *'], 'skip', ['panel']],
  ['check_services', 0, [0], ['* * * * *'], 'skip', []],
  ['cleanup_audit_logs', 2, [300], ['0 3 * * 0'], 'warn', []],
  ['cleanup_cache', 2, [300], ['45 3 * * *'], 'warn', []],
  ['cleanup_console_sessions', 2, [300], ['0 * * * *'], 'warn', []],
  ['cleanup_exports', 2, [300], ['0 * * * *'], 'warn', []],
  ['cleanup_notifications', 2, [300], ['30 3 * * *'], 'warn', []],
  ['cleanup_task_results', 2, [300], ['*/10 * * * *'], 'warn', []],
  ['cleanup_telegram_updates', 2, [300], ['*/10 * * * *'], 'warn', []],
  ['cleanup_webhook_logs', 2, [300], ['15 3 * * *'], 'warn', []],
  ['collect_bandwidth', 1, [0], ['*/5 * * * *'], 'skip', ['panel']],
  ['daily_financial_stats', 1, [0], ['30 0 * * *'], 'skip', []],
  ['daily_report', 2, [600], ['0 6 * * *'], 'alert', []],
  ['daily_stats', 1, [0], ['5 0 * * *'], 'skip', []],
  ['detect_anomalies', 1, [0], ['*/5 * * * *'], 'skip', []],
  ['disable_expired_users', 3, [60], ['*/15 * * * *'], 'alert', ['panel']],
  ['echo', 0, [0], [], 'alert', []],
  ['export_data', 0, [0], [], 'alert', []],
  ['keep_dashboard', 1, [0], ['* * * * *'], 'skip', []],
  ['ping_db', 2, [5, 15], [], 'alert', []],
  ['process_notifications', 0, [60], ['* * * * *'], 'alert', []],
  ['process_payment_completion', 3, [30, 120, 600], [], 'critical', ['payments', 'panel']],
  ['requeue_stale_runs', 2, [300], ['*/10 * * * *'], 'warn', []],
  ['reset_monthly_traffic', 3, [60], ['0 0 1 * *'], 'alert', ['panel']],
  ['retry_failed_webhooks', 3, [30, 120, 600], ['*/30 * * * *'], 'critical', ['payments']],
  ['send_notification', 3, [10, 30, 90], [], 'warn', []],
  ['subscription_reminders', 3, [60], ['0 * * * *'], 'alert', ['panel']],
  ['sync_geolocations', 3, [120], ['0 */6 * * *'], 'skip', ['panel']],
  ['sync_node_configs', 3, [120], ['*/30 * * * *'], 'skip', ['panel']],
  ['sync_user_stats', 3, [120], ['*/10 * * * *'], 'skip', ['panel']],
  ['verify_pending_payments', 3, [30, 120, 600], ['*/5 * * * *'], 'critical', ['payments']],
  ['weekly_report', 2, [600], ['0 7 * * 1'], 'alert', []],
];

describe('retry policies and crons', () => {
  it('pins every registered task to the table', () => {
    const actual: Row[] = taskRegistry
      .names()
      .filter((n) => !n.startsWith('test_'))
      .map((name) => {
        const t = taskRegistry.get(name);
        if (!t) throw new Error(name);
        return [
          name,
          t.retry.maxAttempts - 1,
          [...t.retry.backoffSeconds],
          schedules.filter((s) => s.task === name).map((s) => s.cron),
          t.onExhausted,
          [...t.requires],
        ];
      });
    expect(actual).toEqual(table);
  });

  it('reaches every backoff step: one step per retry, or one fixed step', () => {
    for (const [task, retries, backoff] of table) expect(backoff.length === 1 || backoff.length === retries, task).toBe(true);
  });

  it("is README's jobs table", () => {
    const rows = new Map(
      [...readme.matchAll(/^\| `([a-z_]+)` \| ([^|]+) \| ([^|]+) \| ([^|]+) \| ([^|]+) \|/gm)].map((m) => [
        m[1],
        { schedule: m[2]?.trim(), retries: m[3]?.trim(), onExhausted: m[4]?.trim(), needs: m[5]?.trim() },
      ]),
    );
    for (const [task, retries, backoff, crons, onExhausted, needs] of table) {
      const row = rows.get(task);
      expect(row, task).toBeDefined();
      const steps = backoff.map((s) => (s >= 60 && s % 60 === 0 ? `${s / 60} m` : `${s} s`)).join(' / ');
      expect(row?.retries, task).toBe(retries === 0 ? '0' : `${retries}: ${steps}`);
      for (const cron of crons) expect(row?.schedule, task).toContain(`\`${cron}\``);
      if (!crons.length) expect(row?.schedule, task).toMatch(/^on /);
      expect(row?.onExhausted, task).toBe(onExhausted);
      expect(row?.needs, task).toBe(needs.length ? needs.join(', ') : '—');
    }
  });
});
