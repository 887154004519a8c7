declare namespace Cloudflare {
  interface Env {
    /** Tests only: a Telegram stand-in that allows 2 sends a second. */
    TEST_TELEGRAM_LIMITED_ROOT: string;
    /** Tests only: 3 sign-ins a minute, to reach the global sign-in ceiling. */
    TEST_SIGN_IN_CEILING: RateLimit;
    CRYPTOBOT_TOKEN: string;
    REMNAWAVE_API_TOKEN: string;
    REMNAWAVE_WEBHOOK_SECRET: string;
    METRICS_TOKEN: string;
  }
}
