declare namespace Cloudflare {
  interface Env {
    /** Tests only: a Telegram stand-in that allows 2 sends a second. */
    TEST_TELEGRAM_LIMITED_ROOT: string;
  }
}
