/**
 * The Worker's secrets (`wrangler secret put NAME`). They are not in wrangler.toml, so `wrangler types`
 * cannot see them; `workers/core/config.ts` checks their values. Optional ones may be empty.
 */
interface FlarecastSecrets {
  BOT_TOKEN: string;
  TELEGRAM_WEBHOOK_SECRET: string;
  ADMIN_API_TOKEN: string;
  ADMIN_TELEGRAM_IDS: string;
  DATABASE_URL: string;
  CRYPTOBOT_TOKEN?: string;
  REMNAWAVE_API_TOKEN?: string;
  REMNAWAVE_WEBHOOK_SECRET?: string;
  METRICS_TOKEN?: string;
}

interface Env extends FlarecastSecrets {}

declare namespace Cloudflare {
  interface Env extends FlarecastSecrets {}
}
