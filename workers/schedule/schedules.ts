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
  { cron: '*/15 * * * *', task: 'disable_expired_users', what: 'disable panel users still active past expireAt; tell each once' },
  { cron: '*/30 * * * *', task: 'auto_renew_subscriptions', what: 'invoice users with auto-renew whose expiry is within the hour' },
  { cron: '0 * * * *', task: 'subscription_reminders', what: 'expiry reminders at 7 d, 3 d, 24 h and 6 h, once per bracket' },
  { cron: '0 0 1 * *', task: 'reset_monthly_traffic', what: "reset every active user's traffic (bulk, 500 ids a call)" },
  { cron: '*/30 * * * *', task: 'retry_failed_webhooks', what: 'process valid, unprocessed payment webhooks again (at most 3 times)' },
  { cron: '30 0 * * *', task: 'daily_financial_stats', what: "yesterday's revenue, count by plan and provider, average" },
  { cron: '*/2 * * * *', task: 'check_node_health', what: 'classify every panel node; alert changes once, CRITICAL after 5 min offline' },
  {
    cron: '* * * * *',
    task: 'check_services',
    what: 'panel, Postgres, Telegram getMe, CryptoBot: alert after 3 failures, resolved on recovery',
  },
  { cron: '0 3 * * 0', task: 'cleanup_audit_logs', what: 'delete audit rows past CLEANUP_AUDIT_RETENTION_DAYS, 1,000 per statement' },
  {
    cron: '15 3 * * *',
    task: 'cleanup_webhook_logs',
    what: 'delete webhook logs past CLEANUP_WEBHOOK_RETENTION_DAYS, 1,000 per statement',
  },
  { cron: '30 3 * * *', task: 'cleanup_notifications', what: 'delete sent and failed notifications older than 7 days' },
  { cron: '0 * * * *', task: 'cleanup_exports', what: 'delete export files older than 24 hours from R2' },
  { cron: '0 * * * *', task: 'cleanup_console_sessions', what: 'delete web console sessions past their 12-hour expiry' },
  { cron: '*/5 * * * *', task: 'collect_bandwidth', what: 'a traffic snapshot per node (kept 48 h)' },
  { cron: '5 * * * *', task: 'aggregate_bandwidth', what: "the previous hour's snapshots → sum/avg/max/min per node (kept 30 days)" },
  {
    cron: '5 0 * * *',
    task: 'daily_stats',
    what: "yesterday's users by status, new users, bandwidth, revenue, admin operations (kept 90 days)",
  },
  { cron: '* * * * *', task: 'keep_dashboard', what: "keep the dashboard object's 30-second refresh alarm running" },
  { cron: '0 */6 * * *', task: 'sync_geolocations', what: "each node's country → coordinates (static map), upserted" },
  { cron: '*/10 * * * *', task: 'sync_user_stats', what: "the panel's user statistics, cached 10 min" },
  { cron: '*/30 * * * *', task: 'sync_node_configs', what: "the nodes' configuration, cached 30 min" },
  { cron: '45 3 * * *', task: 'cleanup_cache', what: 'remove cache entries past their expiry' },
  { cron: '0 6 * * *', task: 'daily_report', what: "yesterday's report to the admins (Telegram HTML)" },
  { cron: '0 7 * * 1', task: 'weekly_report', what: 'the last 7 days with trends against the 7 before' },
  {
    cron: '*/5 * * * *',
    task: 'detect_anomalies',
    what: 'task error rate > 5 %, backlog > 500, payment failures > 10 %: alerted once, resolved once',
  },
  { cron: '*/10 * * * *', task: 'cleanup_task_results', what: 'delete finished task runs past their expires_at' },
  { cron: '*/10 * * * *', task: 'requeue_stale_runs', what: 're-enqueue runs overdue by 15 min (lost queue messages)' },
  { cron: '*/10 * * * *', task: 'cleanup_telegram_updates', what: 'forget handled update ids older than 7 days' },
];
