/** Every table of the product, for drizzle's relational queries and drizzle-kit. */
export * from './analytics/analytics.schema';
export * from './bot/admin-sessions.schema';
export * from './bot/updates.schema';
export * from './campaigns/campaigns.schema';
export * from './console/console.schema';
export * from './monitoring/monitoring.schema';
export * from './notifications/notifications.schema';
export * from './payments/payments.schema';
export * from './reports/reports.schema';
export * from './subscriptions/subscriptions.schema';
export * from './sync/sync.schema';
export * from './tasks/tasks.schema';
export * from './users/users.schema';
