import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { convertV4MiniflareOptions, Miniflare } from 'miniflare';
import { unstable_getMiniflareWorkerOptions } from 'wrangler';
import { CRYPTOBOT_TEST_TOKEN, type CryptoBotStandIn, startCryptoBotStandIn } from './cryptobot/stand-in.ts';
import { type EmbeddedPostgres, startEmbeddedPostgres } from './db/embedded-postgres.ts';
import { migrateDatabase } from './db/migrate.ts';
import { startNeonProxy } from './db/neon-proxy.ts';
import { type RemnawaveStandIn, startRemnawaveStandIn } from './remnawave/stand-in.ts';
import { type StandInOptions, startTelegramStandIn, type TelegramStandIn } from './telegram/stand-in.ts';

const root = resolve(import.meta.dirname, '..');

export interface StackOptions {
  /** Port of `wrangler dev`. Default `PORT` or 8787 */
  port?: number;
  /** Where PGlite data, generated secrets and wrangler state live. Default `DATA_DIR` or `.data` */
  dataDir?: string;
  /** Keep the embedded database in memory (benchmarks). Default false */
  memoryDb?: boolean;
  /** Options of the bundled Telegram stand-in, when no TELEGRAM_API_ROOT is set. */
  telegram?: StandInOptions;
  /** Variables that override both `.dev.vars` and the process environment. */
  vars?: Record<string, string>;
  /** Receives every line the Worker logs; default prints them. */
  onLog?: (line: string) => void;
  /**
   * `wrangler`: `wrangler dev` (live reload, inspector; what `npm start` runs). `bundle`: the bundle
   * `wrangler deploy` would upload, run by workerd through Miniflare without the dev proxy (benchmarks).
   * Default `STACK_RUNTIME` or `wrangler`.
   */
  runtime?: 'wrangler' | 'bundle';
}

export interface Stack {
  url: string;
  vars: Record<string, string>;
  telegram?: TelegramStandIn;
  /** The Crypto Pay stand-in, when no CRYPTOBOT_TOKEN is set. */
  cryptobot?: CryptoBotStandIn;
  /** The Remnawave panel stand-in, when no REMNAWAVE_URL is set. */
  remnawave?: RemnawaveStandIn;
  databaseUrl: string;
  embedded: boolean;
  close(): Promise<void>;
}

/**
 * Brings up the whole local stack: Postgres (embedded PGlite unless DATABASE_URL is set), the
 * stand-in for Neon's proxy that a plain Postgres needs, migrations, the Telegram stand-in
 * (unless TELEGRAM_API_ROOT is set) and `wrangler dev`. Values come from, weakest first: generated
 * defaults, `.dev.vars`, the process environment, `opts.vars`.
 */
export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const dataDir = resolve(root, opts.dataDir ?? process.env.DATA_DIR ?? '.data');
  mkdirSync(dataDir, { recursive: true });
  const vars: Record<string, string> = {
    ...generatedSecrets(dataDir),
    ...readEnvFile(join(root, '.dev.vars')),
    ...knownFromProcess(),
    ...opts.vars,
  };
  const port = opts.port ?? Number(process.env.PORT ?? 8787);
  const closers: Closers = [];
  const close = async () => {
    for (const closer of closers.reverse()) await closer().catch(() => {});
  };
  try {
    const { embedded, databaseUrl } = await startDatabase(vars, opts, dataDir, closers);
    const { telegram, cryptobot, remnawave } = await startStandIns(vars, opts, closers);
    const url = `http://127.0.0.1:${port}`;
    await startWorker(url, port, vars, opts, dataDir, closers);

    if (telegram) {
      // The stand-in plays Telegram: it delivers updates posted to /__control/updates to our webhook.
      await fetch(`${telegram.url}/bot${vars.BOT_TOKEN}/setWebhook`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ url: `${url}/telegram/webhook`, secret_token: vars.TELEGRAM_WEBHOOK_SECRET }),
      });
    }
    // The Crypto Pay stand-in sends its invoice_paid webhooks here.
    cryptobot?.configure({ webhookUrl: `${url}/webhooks/cryptobot` });
    return { url, vars, telegram, cryptobot, remnawave, databaseUrl, embedded, close };
  } catch (err) {
    await close();
    throw err;
  }
}

type Closers = (() => Promise<void>)[];

/** Postgres: embedded PGlite unless DATABASE_URL is set, migrated, behind the Neon proxy stand-in it needs. */
async function startDatabase(vars: Record<string, string>, opts: StackOptions, dataDir: string, closers: Closers) {
  let pg: EmbeddedPostgres | undefined;
  if (!vars.DATABASE_URL) {
    pg = await startEmbeddedPostgres({
      dataDir: opts.memoryDb ? undefined : join(dataDir, 'pglite'),
      port: Number(process.env.PG_PORT ?? 0),
    });
    closers.push(() => pg?.close() ?? Promise.resolve());
    vars.DATABASE_URL = pg.url;
    vars.DATABASE_PROXY = pg.proxy;
  }
  await migrateDatabase(vars.DATABASE_URL);
  if (!new URL(vars.DATABASE_URL).hostname.endsWith('.neon.tech') && !vars.DATABASE_PROXY) {
    const proxy = await startNeonProxy({ databaseUrl: vars.DATABASE_URL });
    closers.push(() => proxy.close());
    vars.DATABASE_PROXY = proxy.address;
  }
  return { embedded: pg !== undefined, databaseUrl: vars.DATABASE_URL };
}

/** The stand-ins for Telegram, Crypto Pay and the Remnawave panel, each unless a real one is configured. */
async function startStandIns(vars: Record<string, string>, opts: StackOptions, closers: Closers) {
  let telegram: TelegramStandIn | undefined;
  if (!vars.TELEGRAM_API_ROOT) {
    telegram = await startTelegramStandIn(opts.telegram);
    closers.push(() => telegram?.close() ?? Promise.resolve());
    vars.TELEGRAM_API_ROOT = telegram.url;
  }

  // Without a real panel or Crypto Pay token, the stand-ins play them.
  let cryptobot: CryptoBotStandIn | undefined;
  if (!vars.CRYPTOBOT_TOKEN) {
    cryptobot = await startCryptoBotStandIn();
    closers.push(() => cryptobot?.close() ?? Promise.resolve());
    vars.CRYPTOBOT_TOKEN = CRYPTOBOT_TEST_TOKEN;
    vars.CRYPTOBOT_API_URL = cryptobot.url;
  }
  let remnawave: RemnawaveStandIn | undefined;
  if (!vars.REMNAWAVE_URL) {
    remnawave = await startRemnawaveStandIn({ latencyMs: 20 });
    closers.push(() => remnawave?.close() ?? Promise.resolve());
    vars.REMNAWAVE_URL = remnawave.url;
    vars.REMNAWAVE_API_TOKEN = remnawave.token;
    vars.REMNAWAVE_WEBHOOK_SECRET ||= randomBytes(16).toString('hex');
  }

  return { telegram, cryptobot, remnawave };
}

/** The Worker: `wrangler dev` (or the built bundle in Miniflare), up once /health answers. */
async function startWorker(url: string, port: number, vars: Record<string, string>, opts: StackOptions, dataDir: string, closers: Closers) {
  const onLog = opts.onLog ?? ((line: string) => console.log(line));
  if ((opts.runtime ?? process.env.STACK_RUNTIME ?? 'wrangler') === 'bundle') {
    const mf = await startBundle(port, join(dataDir, 'bundle'), vars, onLog);
    closers.push(() => mf.dispose());
    await waitForHealth(url);
  } else {
    const envFile = join(dataDir, 'wrangler.env');
    const lines = Object.entries(vars).map(([k, v]) => envLine(k, v));
    writeFileSync(envFile, lines.join('\n'), { mode: 0o600 });
    chmodSync(envFile, 0o600);
    const wrangler = spawnWrangler(port, envFile, join(dataDir, 'wrangler-state'), onLog);
    closers.push(() => stopProcess(wrangler));
    await waitForHealth(url, wrangler);
  }
}

/**
 * A line of the env file `wrangler dev --env-file` reads with dotenv and then dotenv-expand, written so
 * the Worker gets the value exactly: `$` escaped (dotenv-expand would take `$NAME` for a variable and
 * put in its value, or nothing), quoted with a quote the value does not hold (dotenv undoes no escape
 * but `\n` in double quotes, so a JSON string's `\"` and `\\` came through doubled).
 */
function envLine(key: string, value: string): string {
  const escaped = value.replaceAll('$', () => '\\$');
  const quote = ["'", '`', '"'].find((q) => !escaped.includes(q) && !(q === '"' && escaped.includes('\\n')));
  if (!quote) throw new Error(`${key}: a value holding ', \` and " cannot be passed to wrangler dev`);
  return `${key}=${quote}${escaped}${quote}`;
}

/** Names the Worker reads; only these are taken from the process environment. */
const workerVars = [
  'BOT_TOKEN',
  'BOT_USERNAME',
  'TELEGRAM_API_ROOT',
  'TELEGRAM_WEBHOOK_SECRET',
  'ADMIN_API_TOKEN',
  'ADMIN_TELEGRAM_IDS',
  'DATABASE_URL',
  'DATABASE_PROXY',
  'TELEGRAM_RATE_LIMIT',
  'TELEGRAM_PAID_RATE_LIMIT',
  'TELEGRAM_PACE',
  'TELEGRAM_PAID_PACE',
  'RESULT_TTL_SECONDS',
  'NOTIFICATION_MAX_RETRIES',
  'NOTIFICATION_BATCH_SIZE',
  'CLEANUP_AUDIT_RETENTION_DAYS',
  'BULK_BATCH_SIZE',
  'METRICS_TOKEN',
  'CLEANUP_WEBHOOK_RETENTION_DAYS',
  'REMNAWAVE_URL',
  'REMNAWAVE_API_TOKEN',
  'REMNAWAVE_WEBHOOK_SECRET',
  'CRYPTOBOT_TOKEN',
  'CRYPTOBOT_API_URL',
  'LOG_LEVEL',
  'BREAKER_OPEN_SECONDS',
];

function knownFromProcess(): Record<string, string> {
  return Object.fromEntries(workerVars.flatMap((k) => (process.env[k] ? [[k, process.env[k] as string]] : [])));
}

/** Secrets made up on first start and kept in the data folder, so the admin token stays the same. */
function generatedSecrets(dataDir: string): Record<string, string> {
  const file = join(dataDir, 'secrets.json');
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8')) as Record<string, string>;
  const secrets = {
    BOT_TOKEN: '123456789:local-stand-in-token',
    TELEGRAM_WEBHOOK_SECRET: randomBytes(24).toString('hex'),
    ADMIN_API_TOKEN: randomBytes(24).toString('hex'),
    ADMIN_TELEGRAM_IDS: '',
  };
  writeFileSync(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  return secrets;
}

/** KEY=value lines; quotes around the value are removed, # starts a comment. */
function readEnvFile(path: string): Record<string, string> {
  if (!existsSync(path)) return {};
  const out: Record<string, string> = {};
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (!match || line.trimStart().startsWith('#')) continue;
    out[match[1] as string] = (match[2] as string).replace(/^(['"])(.*)\1$/, '$2');
  }
  return out;
}

function spawnWrangler(port: number, envFile: string, stateDir: string, onLog: (line: string) => void): ChildProcess {
  // Run wrangler on this Node (>= 22), whatever `node` is first on PATH.
  const child = spawn(
    process.execPath,
    [
      join(root, 'node_modules/wrangler/bin/wrangler.js'),
      'dev',
      '--port',
      String(port),
      '--ip',
      '127.0.0.1',
      '--env-file',
      envFile,
      '--persist-to',
      stateDir,
      '--show-interactive-dev-session=false',
      '--log-level',
      'warn',
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: '1' } },
  );
  for (const stream of [child.stdout, child.stderr]) if (stream) createInterface({ input: stream }).on('line', onLog);
  return child;
}

/** Builds the deploy bundle and serves it with workerd, the bindings taken from wrangler.toml. */
async function startBundle(port: number, outDir: string, vars: Record<string, string>, onLog: (line: string) => void): Promise<Miniflare> {
  const build = spawn(process.execPath, [join(root, 'node_modules/wrangler/bin/wrangler.js'), 'deploy', '--dry-run', '--outdir', outDir], {
    cwd: root,
    stdio: 'ignore',
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
  });
  const code = await new Promise((r) => build.once('exit', r));
  if (code !== 0) throw new Error(`wrangler deploy --dry-run exited with code ${code}`);
  const { workerOptions } = unstable_getMiniflareWorkerOptions(join(root, 'wrangler.toml'));
  // Miniflare runs one consumer invocation at a time where Cloudflare runs up to max_concurrency:
  // one invocation with many messages of recipients stands in for many invocations with one each
  // (each message still gets its own outbound path, 6 connections, as its own invocation would). The
  // batch waits 50 ms to fill, so the messages a campaign's loader sends together start together.
  const consumers = workerOptions.queueConsumers as Record<string, { maxBatchSize?: number; maxBatchTimeout?: number }> | undefined;
  const broadcast = consumers?.['flarecast-broadcast'];
  if (broadcast) Object.assign(broadcast, { maxBatchSize: 100, maxBatchTimeout: 0.05 });
  const modules = [
    { type: 'ESModule' as const, path: join(outDir, 'index.js') },
    ...readdirSync(outDir)
      .filter((f) => f.endsWith('.ftl'))
      .map((f) => ({ type: 'Text' as const, path: join(outDir, f) })),
  ];
  // Miniflare keeps Durable Object storage under the temporary directory it picks when it is made.
  // On this machine's disk every SQLite commit waits for fsync on the one thread that runs every
  // Worker and object; in production an object's commit never stalls other isolates. Memory (tmpfs)
  // keeps that local cost out of the benchmarks' figures.
  const tmpdir = process.env.TMPDIR;
  if (existsSync('/dev/shm')) process.env.TMPDIR = '/dev/shm';
  // Miniflare is loaded here, after the hook that takes its outbound hop away (a static import is
  // loaded before any module runs, so the hook would come too late).
  await import('./direct-outbound.ts');
  const { Miniflare, convertV4MiniflareOptions } = await import('miniflare');
  let mf: Miniflare;
  try {
    mf = new Miniflare(
      convertV4MiniflareOptions({
        workers: [
          {
            ...workerOptions,
            modulesRules: undefined,
            name: 'flarecast',
            modulesRoot: outDir,
            modules,
            bindings: { ...(workerOptions.bindings as Record<string, unknown>), ...vars },
            // Requests reach the Worker directly, not through Miniflare's routing entry worker.
            unsafeDirectSockets: [{ host: '127.0.0.1', port }],
          },
        ],
        host: '127.0.0.1',
        port: 0,
        cf: false,
        logRequests: false,
        handleStructuredLogs: (log: { message: string }) => onLog(log.message),
      } as Parameters<typeof convertV4MiniflareOptions>[0]),
    );
  } finally {
    if (tmpdir === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = tmpdir;
  }
  await mf.ready;
  return mf;
}

async function waitForHealth(url: string, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null) throw new Error(`wrangler dev exited with code ${child.exitCode}`);
    try {
      const res = await fetch(`${url}/health`);
      if (res.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url}/health did not answer 200 within 90 s`);
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}
