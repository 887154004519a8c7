/**
 * `npm start`: the whole stack on this machine, on embedded defaults. Ctrl-C stops everything.
 * Cron triggers are fired by this script on their schedules, since `wrangler dev` never fires them.
 */
import { readFileSync } from 'node:fs';
import { Cron } from 'croner';
import { startStack } from './stack.ts';

const stack = await startStack();
const crons = [...readFileSync(new URL('../wrangler.toml', import.meta.url), 'utf8').matchAll(/^crons\s*=\s*\[(.*)\]/gm)].flatMap((m) =>
  [...(m[1] ?? '').matchAll(/"([^"]+)"/g)].map((c) => c[1] as string),
);
const jobs = crons.map(
  (cron) =>
    new Cron(cron, { timezone: 'UTC' }, async () => {
      await fetch(`${stack.url}/cdn-cgi/handler/scheduled?cron=${encodeURIComponent(cron)}`).catch((err: unknown) =>
        console.error(`cron ${cron}: ${String(err)}`),
      );
    }),
);

console.log(`
Flarecast is running.
  Worker        ${stack.url}        (health: ${stack.url}/health)
  Console       ${stack.url}/admin  (sign in with the admin token)
  Admin API     ${stack.url}/api    Authorization: Bearer ${stack.vars.ADMIN_API_TOKEN}
  Webhook       ${stack.url}/telegram/webhook
  Postgres      ${stack.embedded ? `embedded PGlite at ${withoutPassword(stack.databaseUrl)}, data in ${process.env.DATA_DIR ?? '.data'}/pglite` : 'DATABASE_URL'}
  Telegram      ${stack.telegram ? `stand-in at ${stack.telegram.url} (post updates to ${stack.telegram.url}/__control/updates)` : stack.vars.TELEGRAM_API_ROOT}
  Remnawave     ${stack.remnawave ? `stand-in at ${stack.remnawave.url} (seed users at ${stack.remnawave.url}/__control/users)` : stack.vars.REMNAWAVE_URL}
  Crypto Pay    ${stack.cryptobot ? `stand-in at ${stack.cryptobot.url} (pay an invoice: POST ${stack.cryptobot.origin}/__control/pay)` : stack.vars.CRYPTOBOT_API_URL}
  Crons         ${crons.join(', ') || 'none'} (fired by this script)
Press Ctrl-C to stop.
`);

/** PGlite takes any password; the printed URL carries none. */
function withoutPassword(url: string): string {
  const u = new URL(url);
  u.password = '';
  return u.href;
}

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  for (const job of jobs) job.stop();
  await stack.close();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
