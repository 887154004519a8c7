/**
 * `npm run smoke`: what a newcomer does after `npm install`. Runs `npm start` (tools/dev.ts) on a
 * fresh data folder, waits for /health 200, has the Telegram stand-in deliver an update to the
 * webhook, checks the user landed in Postgres, and stops the stack with Ctrl-C (SIGINT).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import pg from 'pg';

const dataDir = mkdtempSync(join(tmpdir(), 'flarecast-smoke-'));
const port = String(18_000 + Math.floor(Math.random() * 2000));
const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, PORT: port };
for (const name of ['DATABASE_URL', 'TELEGRAM_API_ROOT', 'DATABASE_PROXY']) delete env[name];
const child = spawn(process.execPath, [join(import.meta.dirname, 'dev.ts')], { env, stdio: ['ignore', 'pipe', 'inherit'] });
const lines: string[] = [];
const ready = new Promise<void>((resolve, reject) => {
  createInterface({ input: child.stdout }).on('line', (line) => {
    lines.push(line);
    if (line.includes('Press Ctrl-C to stop')) resolve();
  });
  child.once('exit', (code) => reject(new Error(`npm start exited with ${code}:\n${lines.join('\n')}`)));
  setTimeout(() => reject(new Error(`npm start not ready within 120 s:\n${lines.join('\n')}`)), 120_000).unref();
});

const field = (label: string) =>
  lines
    .find((l) => l.trimStart().startsWith(label))
    ?.trim()
    .split(/\s+/) ?? [];
try {
  await ready;
  const health = await fetch(`http://127.0.0.1:${port}/health`);
  if (health.status !== 200) throw new Error(`/health answered ${health.status}`);

  const standIn = field('Telegram').find((w) => w.startsWith('http'));
  const database = field('Postgres').find((w) => w.startsWith('postgres://'));
  if (!standIn || !database) throw new Error(`npm start did not print the stand-in and database URLs:\n${lines.join('\n')}`);
  const userId = 424242;
  const update = {
    message: {
      message_id: 1,
      date: Math.floor(Date.now() / 1000),
      chat: { id: userId, type: 'private', first_name: 'Smoke' },
      from: { id: userId, is_bot: false, first_name: 'Smoke', language_code: 'ru' },
      text: '/start',
      entities: [{ type: 'bot_command', offset: 0, length: 6 }],
    },
  };
  const delivered = (await (await fetch(`${standIn}/__control/updates`, { method: 'POST', body: JSON.stringify(update) })).json()) as {
    status: number;
  };
  if (delivered.status !== 200) throw new Error(`the webhook answered ${delivered.status}`);

  const db = new pg.Client({ connectionString: database });
  await db.connect();
  const { rows } = await db.query('select full_name, language_code, is_active from users where telegram_id = $1', [userId]);
  await db.end();
  if (rows[0]?.full_name !== 'Smoke' || rows[0]?.is_active !== true) throw new Error(`user not stored: ${JSON.stringify(rows)}`);
  console.log(`smoke: npm start served /health 200 and stored the webhook's user ${JSON.stringify(rows[0])}`);
} finally {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGINT');
  await exited;
  rmSync(dataDir, { recursive: true, force: true });
}
