/**
 * `npm run smoke`: what a newcomer does after `npm install`. Runs `npm start` (tools/dev.ts) on a
 * fresh data folder, waits for /health 200, has the Telegram stand-in deliver an update to the
 * webhook, checks the user landed in Postgres, and stops the stack with Ctrl-C (SIGINT).
 */
import pg from 'pg';
import { runNpmStart } from './npm-start.ts';

const stack = await runNpmStart();
try {
  const health = await fetch(`${stack.url}/health`);
  if (health.status !== 200) throw new Error(`/health answered ${health.status}`);

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
  const delivered = (await (
    await fetch(`${stack.telegramUrl}/__control/updates`, { method: 'POST', body: JSON.stringify(update) })
  ).json()) as {
    status: number;
  };
  if (delivered.status !== 200) throw new Error(`the webhook answered ${delivered.status}`);

  const db = new pg.Client({ connectionString: stack.databaseUrl });
  await db.connect();
  const { rows } = await db.query('select full_name, language_code, is_active from users where telegram_id = $1', [userId]);
  await db.end();
  if (rows[0]?.full_name !== 'Smoke' || rows[0]?.is_active !== true) throw new Error(`user not stored: ${JSON.stringify(rows)}`);
  console.log(`smoke: npm start served /health 200 and stored the webhook's user ${JSON.stringify(rows[0])}`);
} finally {
  await stack.stop();
}
