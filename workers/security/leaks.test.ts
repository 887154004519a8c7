/**
 * Edge class: what failures tell. The public health check names no host, port or driver; a failing
 * statement is logged and alerted cause first, without its parameters (personal data) or a body.
 * Secrets in logs and errors: `workers/core/config.test.ts`; a 500 without details:
 * `workers/core/incidents.test.ts`.
 */
import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { afterEach, describe, expect, it, vi } from 'vitest';
import worker from '../index';
import { admin } from '../testing/admin-chat';
import { uniqueTelegramId } from '../testing/db';
import { poll } from '../testing/poll';
import { deliveries } from '../testing/telegram';

/** Every line the Worker writes to the console while `work` runs, and work's waitUntil tasks. */
async function linesWhile(work: (ctx: ExecutionContext) => Response | Promise<Response>): Promise<{ res: Response; lines: string[] }> {
  const lines: string[] = [];
  for (const level of ['log', 'warn', 'error'] as const)
    vi.spyOn(console, level).mockImplementation((line: unknown) => lines.push(String(line)));
  const ctx = createExecutionContext();
  const res = await work(ctx);
  await waitOnExecutionContext(ctx);
  vi.restoreAllMocks();
  return { res, lines };
}

afterEach(() => vi.restoreAllMocks());

describe('what failures tell', () => {
  it('GET /health with the database down gives a fixed reason: no host, port or driver text', async () => {
    // The proxy answers for a database it cannot reach, naming its address.
    const broken = { ...env, DATABASE_URL: 'postgres://flarecast:s3cret@127.0.0.1:9/prod' };
    const { res } = await linesWhile((ctx) => worker.fetch(new Request('https://flarecast.test/health'), broken, ctx));
    expect(res.status).toBe(503);
    const text = await res.text();
    const { capabilities, off, ...rest } = JSON.parse(text);
    expect(rest).toEqual({ ok: false, db: 'down', reason: 'database unreachable' });
    expect(Object.keys(capabilities)).toContain('panel');
    expect(off).toEqual(expect.any(Array));
    for (const leak of ['127.0.0.1', 'connect', 's3cret', 'select', 'HTTP', 'proxy', 'neon', 'Failed query'])
      expect(text.toLowerCase()).not.toContain(leak.toLowerCase());
  });

  it('a failing insert with personal data is logged and alerted cause first, without its parameters', async () => {
    const id = uniqueTelegramId();
    const username = `leaky_${id}`;
    const surname = `Surname${id}`;
    // Postgres refuses a NUL in text: the insert of this user fails with their profile as parameters.
    const update = {
      update_id: id,
      message: {
        message_id: 1,
        date: 0,
        chat: { id, type: 'private' },
        from: { id, is_bot: false, first_name: 'Ann\u0000', last_name: surname, username },
        text: 'my secret message',
      },
    };
    const alertsBefore = (await deliveries(admin)).length;
    const request = new Request('https://flarecast.test/telegram/webhook', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': env.TELEGRAM_WEBHOOK_SECRET },
      body: JSON.stringify(update),
    });
    const { res, lines } = await linesWhile((ctx) => worker.fetch(request, env, ctx));
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ error: 'internal', message: 'internal error' });

    const errors = lines.map((l) => JSON.parse(l) as { event: string; error?: string }).filter((l) => l.error !== undefined);
    expect(errors.map((l) => l.event)).toEqual(expect.arrayContaining(['unhandled_error', 'incident']));
    for (const line of errors) {
      // The cause leads; the statement is named by its first words, its parameters nowhere.
      expect(line.error).toMatch(/^invalid byte sequence for encoding "UTF8": 0x00 \(in with claim as \(insert into telegram_updates/);
      for (const personal of [username, surname, String(id), 'my secret message']) expect(line.error).not.toContain(personal);
      expect(line.error).not.toContain('params');
    }
    const alert = await poll(
      async () => (await deliveries(admin)).slice(alertsBefore).find((d) => d.text?.includes('POST /telegram/webhook')),
      {
        what: 'the incident alert',
      },
    );
    expect(alert.text).toContain('invalid byte sequence for encoding');
    for (const personal of [username, surname, String(id), 'params']) expect(alert.text).not.toContain(personal);
  });
});
