import { env } from 'cloudflare:workers';
import { describe, expect, it, vi } from 'vitest';
import { ConfigError, getConfig } from './config';
import { createLogger, errorMessage } from './logger';
import { redact, registerSecrets } from './redact';

const valid = {
  BOT_TOKEN: '42:abcdefghijklmnopqrstuvwxyz012345',
  TELEGRAM_WEBHOOK_SECRET: 'hook_secret-123456',
  ADMIN_API_TOKEN: 'an-admin-token-long-enough',
  DATABASE_URL: 'postgres://u:p@localhost:5432/db',
};
const parse = (vars: Record<string, string>) => getConfig(vars as unknown as Env);

describe('configuration', () => {
  it('applies the documented defaults', () => {
    const config = parse(valid);
    expect(config).toMatchObject({
      TELEGRAM_API_ROOT: 'https://api.telegram.org',
      TELEGRAM_RATE_LIMIT: 30,
      TELEGRAM_PAID_RATE_LIMIT: 1000,
      RESULT_TTL_SECONDS: 3600,
      ADMIN_TELEGRAM_IDS: [],
      BOT_USERNAME: 'flarecast_bot',
      LOG_LEVEL: 'info',
    });
  });

  it('writes only lines at or above LOG_LEVEL (the seed spells it WARNING too), and names a bad one', () => {
    const lines: string[] = [];
    const capture = (line: unknown) => void lines.push(JSON.parse(String(line)).event as string);
    const spies = [vi.spyOn(console, 'log'), vi.spyOn(console, 'warn'), vi.spyOn(console, 'error')].map((s) =>
      s.mockImplementation(capture),
    );
    try {
      expect(parse({ ...valid, LOG_LEVEL: 'WARNING' }).LOG_LEVEL).toBe('warn');
      const log = createLogger('level-test');
      log.debug('a_debug');
      log.info('an_info');
      log.warn('a_warning');
      log.error('an_error');
      expect(parse({ ...valid, LOG_LEVEL: 'debug' }).LOG_LEVEL).toBe('debug');
      log.debug('a_debug_now');
      expect(lines).toEqual(['a_warning', 'an_error', 'a_debug_now']);
    } finally {
      for (const s of spies) s.mockRestore();
      getConfig(env);
    }
    expect(() => parse({ ...valid, LOG_LEVEL: 'loud' })).toThrow(/LOG_LEVEL/);
  });

  it('parses the admin id list and numbers', () => {
    const config = parse({ ...valid, ADMIN_TELEGRAM_IDS: ' 1, 22 ,333', TELEGRAM_RATE_LIMIT: '25', RESULT_TTL_SECONDS: '60' });
    expect(config.ADMIN_TELEGRAM_IDS).toEqual([1, 22, 333]);
    expect(config.TELEGRAM_RATE_LIMIT).toBe(25);
    expect(config.RESULT_TTL_SECONDS).toBe(60);
  });

  it('names every missing or bad variable and never its value', () => {
    const bad = { ...valid, BOT_TOKEN: 'not-a-token-but-secret', TELEGRAM_RATE_LIMIT: '-3', ADMIN_TELEGRAM_IDS: '1,abc' } as Record<
      string,
      string
    >;
    delete bad.DATABASE_URL;
    let error: unknown;
    try {
      parse(bad);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    for (const name of ['BOT_TOKEN', 'DATABASE_URL', 'TELEGRAM_RATE_LIMIT', 'ADMIN_TELEGRAM_IDS']) expect(message).toContain(name);
    expect(message).not.toContain('not-a-token-but-secret');
  });

  it('refuses a database URL the driver could not parse (its error would carry the password), and URLs without http(s)', () => {
    const password = 'Xk9/3f+Qz1w==';
    let error: unknown;
    try {
      parse({ ...valid, DATABASE_URL: `postgres://app:${password}@ep-x.neon.tech/neondb` });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toContain('DATABASE_URL');
    expect((error as Error).message).not.toContain(password);
    expect(
      parse({ ...valid, DATABASE_URL: `postgres://app:${encodeURIComponent(password)}@ep-x.neon.tech/neondb` }).DATABASE_URL,
    ).toContain('ep-x.neon.tech');
    // zod's url() takes these, and fetch refuses each at every call.
    for (const [name, value] of [
      ['TELEGRAM_API_ROOT', 'localhost:8081'],
      ['REMNAWAVE_URL', 'panel.example.com:3000'],
      ['CRYPTOBOT_API_URL', 'pay.crypt.bot:443/api'],
    ] as const)
      expect(() => parse({ ...valid, [name]: value }), name).toThrow(new RegExp(name));
  });

  it('rejects a webhook secret outside Telegram alphabet', () => {
    expect(() => parse({ ...valid, TELEGRAM_WEBHOOK_SECRET: 'has spaces!' })).toThrow(/TELEGRAM_WEBHOOK_SECRET/);
  });

  it('refuses every secret shorter than its minimum, naming the variable and never the value', () => {
    const short: Record<string, string> = {
      BOT_TOKEN: '42:short-secret',
      TELEGRAM_WEBHOOK_SECRET: 'hook_secret',
      ADMIN_API_TOKEN: 'admin-token-15c',
      METRICS_TOKEN: 'metrics-token',
      REMNAWAVE_API_TOKEN: 'panel-token',
      REMNAWAVE_WEBHOOK_SECRET: 'a-panel-webhook-secret-of-31-chr',
      CRYPTOBOT_TOKEN: '12345:AAshort',
    };
    for (const [name, value] of Object.entries(short)) {
      const attempt = () => parse({ ...valid, [name]: value.slice(0, name === 'REMNAWAVE_WEBHOOK_SECRET' ? 31 : undefined) });
      expect(attempt, name).toThrow(ConfigError);
      expect(attempt, name).toThrow(new RegExp(`${name}: must`));
      expect(attempt, name).not.toThrow(value);
    }
    // Empty still means "off" for the optional ones; long enough is accepted.
    expect(parse({ ...valid, METRICS_TOKEN: '', REMNAWAVE_WEBHOOK_SECRET: '', CRYPTOBOT_TOKEN: '' }).METRICS_TOKEN).toBe('');
    expect(
      parse({ ...valid, REMNAWAVE_WEBHOOK_SECRET: 'x'.repeat(32), METRICS_TOKEN: 'm'.repeat(16) }).REMNAWAVE_WEBHOOK_SECRET,
    ).toHaveLength(32);
    // The secrets the tests and `npm start` use pass.
    expect(getConfig(env).REMNAWAVE_WEBHOOK_SECRET.length).toBeGreaterThanOrEqual(32);
  });

  it('is parsed once per environment object', () => {
    expect(getConfig(env)).toBe(getConfig(env));
  });
});

describe('secrets stay out of logs and errors', () => {
  it('masks registered secrets, bot tokens and URL credentials', () => {
    registerSecrets(['super-secret-value']);
    const text = redact(
      'token super-secret-value at https://api.telegram.org/bot123456:AAbbCCddEEffGGhhIIjjKKll/sendMessage via postgres://me:pw@db/x',
    );
    expect(text).not.toContain('super-secret-value');
    expect(text).not.toContain('AAbbCCddEEffGGhhIIjjKKll');
    expect(text).not.toContain('me:pw');
  });

  it('redacts what the logger writes and error causes', () => {
    parse(valid);
    const lines: string[] = [];
    const original = console.log;
    console.log = (line: string) => lines.push(line);
    try {
      createLogger('c-1').info('leak_attempt', { token: valid.ADMIN_API_TOKEN });
    } finally {
      console.log = original;
    }
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] as string)).toMatchObject({ event: 'leak_attempt', correlation_id: 'c-1', token: '[redacted]' });
    expect(errorMessage(new Error('outer', { cause: new Error(`inner ${valid.BOT_TOKEN}`) }))).toBe('outer ← inner [redacted]');
  });
});
