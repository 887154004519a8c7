/** A periodic job: the cron that kicks it and the arguments it gets. Retry policies live on the tasks. */
export interface Schedule {
  /** 5-field cron, UTC; must also be listed in wrangler.toml `[triggers] crons`. */
  cron: string;
  task: string;
  args?: Record<string, unknown>;
  what: string;
}

/** Every scheduled job, in one table that wrangler.toml and the scheduled handler are checked against. */
export const schedules: readonly Schedule[] = [
  { cron: '* * * * *', task: 'process_notifications', what: 'sweep notifications not sent at their insert (the safety net)' },
  {
    cron: '*/5 * * * *',
    task: 'verify_pending_payments',
    what: 'check pending invoices of the last 24 h with CryptoBot; expire older ones',
  },
  { cron: '*/10 * * * *', task: 'cleanup_task_results', what: 'delete finished task runs past their expires_at' },
  { cron: '*/10 * * * *', task: 'requeue_stale_runs', what: 're-enqueue runs overdue by 15 min (lost queue messages)' },
  { cron: '*/10 * * * *', task: 'cleanup_telegram_updates', what: 'forget handled update ids older than 7 days' },
];
