import pg from 'pg';
import { startCryptoBotStandIn } from '../cryptobot/stand-in.ts';
import { startEmbeddedPostgres } from '../db/embedded-postgres.ts';
import { migrateDatabase } from '../db/migrate.ts';
import { startNeonProxy } from '../db/neon-proxy.ts';
import { startRemnawaveStandIn } from '../remnawave/stand-in.ts';
import { startTelegramStandIn } from '../telegram/stand-in.ts';
import { offerWorlds, type WorldBindings } from './worlds.ts';

/**
 * Real dependencies for the tests in workerd, one set per test file (see worlds.ts): a database of
 * one Postgres (PGlite, or the server at `TEST_DATABASE_URL` when set) made from the migrations, the
 * stand-in for Neon's proxy the driver talks to, and the Telegram, Crypto Pay and Remnawave stand-ins.
 */
export default async function setup() {
  const external = process.env.TEST_DATABASE_URL;
  const pgl = external ? undefined : await startEmbeddedPostgres();
  const closers: (() => Promise<void>)[] = [];
  let files = 0;

  /** A fresh database: a schema of PGlite, or a database of the external server, migrated. */
  const database = async (name: string): Promise<{ url: string; proxy: string }> => {
    if (pgl) return { url: await pgl.createDatabase(name), proxy: pgl.proxy };
    const admin = new pg.Client({ connectionString: external });
    await admin.connect();
    try {
      await admin.query(`drop database if exists ${name}`);
      await admin.query(`create database ${name}`);
    } finally {
      await admin.end();
    }
    const url = new URL(external as string);
    url.pathname = `/${name}`;
    await migrateDatabase(url.toString());
    const proxy = await startNeonProxy({ databaseUrl: url.toString(), poolSize: 4 });
    closers.push(proxy.close);
    return { url: url.toString(), proxy: proxy.address };
  };

  offerWorlds(async (): Promise<WorldBindings> => {
    const db = await database(`test_file_${++files}`);
    // Strict like Telegram: 30/s and 1,000/s paid in a sliding second counted at arrival, jittered latency.
    const telegram = await startTelegramStandIn({ latencyMs: 4, jitterMs: 2, perChatPerSecond: 0 });
    const limited = await startTelegramStandIn({ rateLimit: 2, perChatPerSecond: 0 });
    const cryptobot = await startCryptoBotStandIn();
    const panel = await startRemnawaveStandIn();
    closers.push(telegram.close, limited.close, cryptobot.close, panel.close);
    return {
      DATABASE_URL: db.url,
      DATABASE_PROXY: db.proxy,
      TELEGRAM_API_ROOT: telegram.url,
      TEST_TELEGRAM_LIMITED_ROOT: limited.url,
      CRYPTOBOT_API_URL: cryptobot.url,
      REMNAWAVE_URL: panel.url,
    };
  });

  return async () => {
    offerWorlds(undefined);
    await Promise.all(closers.map((close) => close()));
    await pgl?.close();
  };
}
