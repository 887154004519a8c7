/**
 * A test file's world: its own database (made from the migrations) and its own stand-ins, so files
 * run side by side and each counts exactly what it did. The global setup offers a maker; the Vitest
 * config takes one world per test file, as the pool starts the file's runtime. Both run in Vitest's
 * main process, but load this module separately (the config is bundled), hence the global slot.
 */

/** The bindings that point one file's Worker at its world. */
export interface WorldBindings {
  DATABASE_URL: string;
  DATABASE_PROXY: string;
  TELEGRAM_API_ROOT: string;
  /** A second Telegram stand-in that allows 2 sends a second, to see 429s. */
  TEST_TELEGRAM_LIMITED_ROOT: string;
  CRYPTOBOT_API_URL: string;
  REMNAWAVE_URL: string;
}

type MakeWorld = () => Promise<WorldBindings>;

const SLOT = Symbol.for('flarecast.test.makeWorld');
const slot = globalThis as { [SLOT]?: MakeWorld };

export function offerWorlds(make: MakeWorld | undefined): void {
  slot[SLOT] = make;
}

export function nextWorld(): Promise<WorldBindings> {
  const make = slot[SLOT];
  if (!make) throw new Error('no test worlds: tools/test/global-setup.ts has not run');
  return make();
}
