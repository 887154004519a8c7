import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../db/embedded-postgres.ts';
import { migrateDatabase } from '../db/migrate.ts';
import { startWsBridge } from '../db/ws-bridge.ts';
import { startTelegramStandIn } from '../telegram/stand-in.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    databaseWsProxy: string;
    telegramApiRoot: string;
  }
}

/**
 * Real dependencies for the tests in workerd: Postgres (PGlite, or `TEST_DATABASE_URL` when set),
 * the WebSocket bridge the Neon driver needs, and the Telegram stand-in. Their addresses reach the
 * Worker as bindings through `inject`.
 */
export default async function setup(project: TestProject) {
  const external = process.env.TEST_DATABASE_URL;
  const pg = external ? undefined : await startEmbeddedPostgres();
  const databaseUrl = external ?? (pg?.url as string);
  await migrateDatabase(databaseUrl);
  const target = new URL(databaseUrl);
  const bridge = await startWsBridge({ allowedTarget: `${target.hostname}:${target.port || 5432}` });
  const telegram = await startTelegramStandIn({ rateLimit: 0, perChatPerSecond: 0 });

  project.provide('databaseUrl', databaseUrl);
  project.provide('databaseWsProxy', bridge.proxy);
  project.provide('telegramApiRoot', telegram.url);

  return async () => {
    await telegram.close();
    await bridge.close();
    await pg?.close();
  };
}
