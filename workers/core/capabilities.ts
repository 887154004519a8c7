import type { Config } from './config';

/**
 * Optional services the product can run without. A capability is off while the variable that
 * configures it is empty; the jobs that need it are then skipped (no run, no alert), and `/health` and
 * the console's operations page say so.
 */
export const capabilityTable = {
  panel: {
    variable: 'REMNAWAVE_URL',
    what: 'the Remnawave panel: subscription jobs, node health, bandwidth, sync, bulk operations',
    on: (c: Config) => c.REMNAWAVE_URL !== '',
  },
  payments: {
    variable: 'CRYPTOBOT_TOKEN',
    what: 'CryptoBot payments: invoices, verification, auto-renewal',
    on: (c: Config) => c.CRYPTOBOT_TOKEN !== '',
  },
  panel_webhooks: {
    variable: 'REMNAWAVE_WEBHOOK_SECRET',
    what: "the panel's webhooks (POST /webhooks/remnawave)",
    on: (c: Config) => c.REMNAWAVE_WEBHOOK_SECRET !== '',
  },
  metrics: {
    variable: 'METRICS_TOKEN',
    what: 'the Prometheus endpoint (GET /metrics)',
    on: (c: Config) => c.METRICS_TOKEN !== '',
  },
  admin_alerts: {
    variable: 'ADMIN_TELEGRAM_IDS',
    what: 'alerts and reports to the admins in Telegram',
    on: (c: Config) => c.ADMIN_TELEGRAM_IDS.length > 0,
  },
} as const;

export type Capability = keyof typeof capabilityTable;

/** Every capability and whether it is on. */
export function capabilities(config: Config): Record<Capability, boolean> {
  return Object.fromEntries(Object.entries(capabilityTable).map(([name, c]) => [name, c.on(config)])) as Record<Capability, boolean>;
}

/** The capabilities of `needed` that are off, in their order. */
export function missingCapabilities(config: Config, needed: readonly Capability[]): Capability[] {
  return needed.filter((c) => !capabilityTable[c].on(config));
}

/** The variables that would turn these capabilities on, for log lines and messages. */
export function variablesOf(caps: readonly Capability[]): string[] {
  return caps.map((c) => capabilityTable[c].variable);
}
