import { z } from 'zod';
import { type LogLevel, setLogLevel } from './logger';
import { registerSecrets } from './redact';

const positiveInt = (fallback: number) => z.coerce.number().int().positive().default(fallback);
/** An http(s) URL: zod's `url()` alone takes `localhost:8081` (scheme `localhost:`), which fetch refuses at every call. */
const httpUrl = () => z.url({ protocol: /^https?$/ });

/**
 * Shortest secret of our own making accepted, in characters: 16 random characters are out of reach of
 * online guessing (and the sign-in limiter). `npm start` generates 48, the tests use 19 and more.
 */
const MIN_SECRET_LENGTH = 16;
/** Shortest HMAC key accepted: a panel webhook secret signs, so it gets a full SHA-256 block's worth of 32. */
const MIN_SIGNING_KEY_LENGTH = 32;

const secret = (min = MIN_SECRET_LENGTH) => z.string().min(min, `must be at least ${min} characters`);
/** A secret that may be left empty to turn its feature off. */
const optionalSecret = (min = MIN_SECRET_LENGTH) => z.union([z.literal(''), secret(min)]).default('');

/** Telegram's secret_token alphabet (1-256 characters of A-Z a-z 0-9 _ -), and at least 16 of them. */
const webhookSecret = secret().regex(/^[A-Za-z0-9_-]{1,256}$/, 'must be 1-256 characters of A-Z, a-z, 0-9, _ and -');

const configSchema = z.object({
  /** `<bot id>:<secret>`; BotFather's secrets are 35 characters, and the log redaction knows 20 and more. */
  BOT_TOKEN: z.string().regex(/^\d+:[A-Za-z0-9_-]{20,}$/, 'must look like <bot id>:<secret of 20 or more characters>'),
  /** Bot username, used as the preset `botInfo` so a cold start never calls getMe. */
  BOT_USERNAME: z.string().min(1).default('flarecast_bot'),
  /** Bot API server root. Default https://api.telegram.org */
  TELEGRAM_API_ROOT: httpUrl().default('https://api.telegram.org'),
  TELEGRAM_WEBHOOK_SECRET: webhookSecret,
  ADMIN_API_TOKEN: secret(),
  /** Comma-separated Telegram user ids of the operators. */
  ADMIN_TELEGRAM_IDS: z
    .string()
    .default('')
    .transform((raw, ctx) => {
      const ids = raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const bad = ids.find((id) => !/^\d+$/.test(id));
      if (bad !== undefined) {
        ctx.addIssue({ code: 'custom', message: 'must be a comma-separated list of numeric Telegram ids' });
        return z.NEVER;
      }
      return ids.map(Number);
    }),
  // Parsed here, not first by the driver: a URL it cannot parse (a password with an unescaped `/`) ends
  // up whole, password and all, in the driver's error, which logs and alerts would then carry.
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL')
    .refine((u) => URL.canParse(u), 'is not a valid URL (percent-encode /, @, : and # in the password)'),
  /** host:port of the local stand-in for Neon's proxy in front of a plain Postgres (local only). */
  DATABASE_PROXY: z.string().default(''),
  /** Bot-wide messages per second. Default 30 */
  TELEGRAM_RATE_LIMIT: positiveInt(30),
  /** Messages per second with allow_paid_broadcast. Default 1000 */
  TELEGRAM_PAID_RATE_LIMIT: positiveInt(1000),
  /**
   * Share of the ordinary limit the bot paces at while Telegram is quiet (a 429 cuts it, quiet
   * restores it). Telegram counts where requests arrive, so jitter needs headroom. Default 0.96
   */
  TELEGRAM_PACE: z.coerce.number().min(0.5).max(1).default(0.96),
  /** The same for the paid limit: jitter moves a smaller share of 1,000 sends. Default 0.97 */
  TELEGRAM_PAID_PACE: z.coerce.number().min(0.5).max(1).default(0.97),
  /** How long a finished task run is kept, in seconds. Default 3600 */
  RESULT_TTL_SECONDS: positiveInt(3600),
  /** Retries of a queued notification after its first try before it is `failed`. Default 5 */
  NOTIFICATION_MAX_RETRIES: positiveInt(5),
  /** Notifications one `process_notifications` run claims. Default 50 */
  NOTIFICATION_BATCH_SIZE: z.coerce.number().int().min(1).max(500).default(50),
  /** Bearer token of `GET /metrics`; empty turns the endpoint off. */
  METRICS_TOKEN: optionalSecret(),
  /** Users per panel bulk call in bulk operations (at most 500). Default 50 */
  BULK_BATCH_SIZE: z.coerce.number().int().min(1).max(500).default(50),
  /** Days audit log rows are kept. Default 90 */
  CLEANUP_AUDIT_RETENTION_DAYS: positiveInt(90),
  /** Days provider webhook log rows are kept. Default 30 */
  CLEANUP_WEBHOOK_RETENTION_DAYS: positiveInt(30),
  /** Seconds a service's circuit breaker stays open (refusing calls at once) before a trial call. Default 30 */
  BREAKER_OPEN_SECONDS: positiveInt(30),
  /** The Remnawave panel, e.g. https://panel.example.com; empty turns the subscription jobs off. */
  REMNAWAVE_URL: z.union([z.literal(''), httpUrl()]).default(''),
  REMNAWAVE_API_TOKEN: optionalSecret(),
  /** Key of the panel's webhook signatures (`X-Remnawave-Signature`); empty refuses panel webhooks. */
  REMNAWAVE_WEBHOOK_SECRET: optionalSecret(MIN_SIGNING_KEY_LENGTH),
  /** Crypto Pay API token from @CryptoBot; empty turns payments off. */
  CRYPTOBOT_TOKEN: optionalSecret(),
  /** Crypto Pay API root. Default https://pay.crypt.bot/api */
  CRYPTOBOT_API_URL: httpUrl().default('https://pay.crypt.bot/api'),
  /** Lowest level written to the log: debug, info, warn (or warning), error, in any case. Default info */
  LOG_LEVEL: z
    .string()
    .default('info')
    .transform((v) => v.toLowerCase().replace(/^warning$/, 'warn'))
    .pipe(z.enum(['debug', 'info', 'warn', 'error']))
    .transform((v): LogLevel => v),
});

export type Config = z.infer<typeof configSchema>;

/** Raised when the environment does not hold a valid configuration. Names the variables, never their values. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const cache = new WeakMap<object, Config>();

/** Parses the environment once per isolate and env object; throws `ConfigError` naming each bad variable. */
export function getConfig(env: Env): Config {
  const hit = cache.get(env);
  if (hit) {
    setLogLevel(hit.LOG_LEVEL);
    return hit;
  }
  const parsed = configSchema.safeParse(emptyToUndefined(env));
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  const config = parsed.data;
  registerSecrets([
    config.BOT_TOKEN,
    config.TELEGRAM_WEBHOOK_SECRET,
    config.ADMIN_API_TOKEN,
    passwordOf(config.DATABASE_URL),
    config.REMNAWAVE_API_TOKEN,
    config.REMNAWAVE_WEBHOOK_SECRET,
    config.CRYPTOBOT_TOKEN,
    config.METRICS_TOKEN,
  ]);
  cache.set(env, config);
  setLogLevel(config.LOG_LEVEL);
  return config;
}

/** Unset and empty variables both mean "use the default". */
function emptyToUndefined(env: Env): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(env)) out[key] = value === '' ? undefined : value;
  return out;
}

function passwordOf(url: string): string | undefined {
  try {
    return decodeURIComponent(new URL(url).password) || undefined;
  } catch {
    return undefined;
  }
}
