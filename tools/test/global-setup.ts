import type { TestProject } from 'vitest/node';
import { startCryptoBotStandIn } from '../cryptobot/stand-in.ts';
import { startEmbeddedPostgres } from '../db/embedded-postgres.ts';
import { migrateDatabase } from '../db/migrate.ts';
import { startNeonProxy } from '../db/neon-proxy.ts';
import { startRemnawaveStandIn } from '../remnawave/stand-in.ts';
import { startTelegramStandIn } from '../telegram/stand-in.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    databaseProxy: string;
    telegramApiRoot: string;
    /** A second stand-in that allows 2 sends a second, to see 429s. */
    telegramLimitedRoot: string;
    cryptobotApiUrl: string;
    remnawaveUrl: string;
  }
}

/**
 * Real dependencies for the tests in workerd: Postgres (PGlite, or `TEST_DATABASE_URL` when set),
 * the local stand-in for Neon's proxy the driver talks to, and the Telegram stand-in. Their addresses reach the
 * Worker as bindings through `inject`.
 */
export default async function setup(project: TestProject) {
  const external = process.env.TEST_DATABASE_URL;
  const pg = external ? undefined : await startEmbeddedPostgres();
  const databaseUrl = external ?? (pg?.url as string);
  await migrateDatabase(databaseUrl);
  const proxy = pg ? undefined : await startNeonProxy({ databaseUrl });
  // Strict like Telegram: 30/s and 1,000/s paid in a sliding second counted at arrival, jittered latency.
  const telegram = await startTelegramStandIn({ latencyMs: 4, jitterMs: 2, perChatPerSecond: 0 });
  const limited = await startTelegramStandIn({ rateLimit: 2, perChatPerSecond: 0 });
  const cryptobot = await startCryptoBotStandIn();
  const panel = await startRemnawaveStandIn();

  project.provide('databaseUrl', databaseUrl);
  project.provide('databaseProxy', pg?.proxy ?? (proxy?.address as string));
  project.provide('telegramApiRoot', telegram.url);
  project.provide('telegramLimitedRoot', limited.url);
  project.provide('cryptobotApiUrl', cryptobot.url);
  project.provide('remnawaveUrl', panel.url);

  return async () => {
    await telegram.close();
    await limited.close();
    await cryptobot.close();
    await panel.close();
    await proxy?.close();
    await pg?.close();
  };
}
