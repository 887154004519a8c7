/**
 * Runs `npm start` (tools/dev.ts) as a newcomer would, on a fresh data folder and a free port, for the
 * smoke check and the browser test: waits until it is ready and reads the addresses it prints.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export interface RunningStack {
  url: string;
  adminToken: string;
  databaseUrl: string;
  /** The Telegram stand-in. */
  telegramUrl: string;
  /** Every line `npm start` printed so far. */
  lines: string[];
  /** Ctrl-C, as a person would, then the data folder is removed. */
  stop(): Promise<void>;
}

export async function runNpmStart(opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<RunningStack> {
  const dataDir = mkdtempSync(join(tmpdir(), 'flarecast-start-'));
  const port = String(18_000 + Math.floor(Math.random() * 2000));
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, PORT: port, ...opts.env };
  for (const name of ['DATABASE_URL', 'TELEGRAM_API_ROOT', 'DATABASE_PROXY', 'ADMIN_API_TOKEN']) if (!opts.env?.[name]) delete env[name];
  const child = spawn(process.execPath, [join(import.meta.dirname, 'dev.ts')], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGINT');
    await exited;
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        lines.push(line);
        if (line.includes('Press Ctrl-C to stop')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`npm start exited with ${code}:\n${lines.join('\n')}`)));
      setTimeout(
        () => reject(new Error(`npm start not ready within ${opts.timeoutMs ?? 120_000} ms:\n${lines.join('\n')}`)),
        opts.timeoutMs ?? 120_000,
      ).unref();
    });
    const words = (label: string) =>
      lines
        .find((l) => l.trimStart().startsWith(label))
        ?.trim()
        .split(/\s+/)
        .map((w) => w.replace(/[,;.]$/, '')) ?? [];
    const telegramUrl = words('Telegram').find((w) => w.startsWith('http'));
    const databaseUrl = words('Postgres').find((w) => w.startsWith('postgres://'));
    const adminToken = words('Admin API').at(-1);
    if (!telegramUrl || !databaseUrl || !adminToken) throw new Error(`npm start did not print its addresses:\n${lines.join('\n')}`);
    return { url: `http://127.0.0.1:${port}`, adminToken, databaseUrl, telegramUrl, lines, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
