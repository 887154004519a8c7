import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { getConfig } from '../core/config';
import { poll } from '../testing/poll';
import { CircuitBreaker, CircuitOpenError } from './breaker';
import { cryptoPay } from './cryptobot';
import { callService, describe as describeBody, ServiceError } from './http';
import { remnawave } from './remnawave';

const panelControl = `${env.REMNAWAVE_URL}/__control`;
const configurePanel = async (patch: Record<string, unknown>) => {
  const res = await fetch(`${panelControl}/config`, { method: 'POST', body: JSON.stringify(patch) });
  expect(res.ok).toBe(true);
};
const calm = () => configurePanel({ failNext: null, down: false, latencyMs: 0 });
const panelCall = (service: string, path = '/api/system/stats') =>
  callService({ service, url: `${env.REMNAWAVE_URL}${path}`, headers: { authorization: `Bearer ${env.REMNAWAVE_API_TOKEN}` } });

describe('circuit breaker', () => {
  const fail = () => Promise.reject(new Error('down'));
  const failure = () => 'failure' as const;

  it('opens after three failures in a row, refuses at once, and closes after a good trial', async () => {
    const b = new CircuitBreaker('unit', { openMs: 100 });
    for (let i = 0; i < 3; i++) await expect(b.run(fail, failure)).rejects.toThrow('down');
    expect(b.state).toBe('open');
    await expect(b.run(async () => 'x', failure)).rejects.toBeInstanceOf(CircuitOpenError);
    await poll(async () => (b.state === 'half-open' ? true : undefined));
    expect(await b.run(async () => 'ok', failure)).toBe('ok');
    expect(b.state).toBe('closed');
  });

  it('opens on one timeout; errors that are not the service failing do not count', async () => {
    const b = new CircuitBreaker('unit');
    await expect(b.run(fail, () => false)).rejects.toThrow();
    await expect(b.run(fail, failure)).rejects.toThrow();
    await expect(b.run(fail, () => false)).rejects.toThrow();
    expect(b.state).toBe('closed');
    await expect(b.run(fail, () => 'timeout')).rejects.toThrow();
    expect(b.state).toBe('open');
  });
});

describe('service calls', () => {
  it('retries a 503 and a 429 (after Retry-After) and then succeeds', async () => {
    await configurePanel({ failNext: { status: 503, count: 2 } });
    expect((await panelCall('retry-503')).status).toBe(200);
    await configurePanel({ failNext: { status: 429, count: 1 } });
    const started = Date.now();
    expect((await panelCall('retry-429')).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it('gives up after three tries, then the breaker refuses without calling', async () => {
    await configurePanel({ failNext: { status: 502, count: 3 } });
    try {
      const err = await panelCall('down-service').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ServiceError);
      expect(err).toMatchObject({ status: 502, retryable: true });
      expect((err as Error).message).not.toContain('<');
      await expect(panelCall('down-service')).rejects.toBeInstanceOf(CircuitOpenError);
    } finally {
      await calm();
    }
  });

  it('opens the breaker within 5 s when the service stops answering', async () => {
    await configurePanel({ latencyMs: 6000 });
    try {
      const started = Date.now();
      const err = await panelCall('hanging').catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'timeout' });
      expect(Date.now() - started).toBeLessThan(5000);
      await expect(panelCall('hanging')).rejects.toBeInstanceOf(CircuitOpenError);
    } finally {
      await calm();
    }
  });

  it('describes error bodies of any shape', () => {
    expect(describeBody('<html><body><h1>502 Bad Gateway</h1></body></html>')).toBe('502 Bad Gateway');
    expect(describeBody({ ok: false, error: { code: 400, name: 'AMOUNT_INVALID' } })).toBe('AMOUNT_INVALID');
    expect(describeBody({ message: 'User not found', errorCode: 'A025' })).toBe('User not found');
    expect(describeBody('')).toBe('empty answer');
  });
});

describe('clients', () => {
  it('Remnawave: a missing user is a 404 with the panel error code, not retried', async () => {
    const err = await remnawave(getConfig(env))
      .getUser(999_999_999)
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 404, code: 'A063', retryable: false });
  });

  it('Crypto Pay: an error answer carries its name; creating and reading an invoice works', async () => {
    const api = cryptoPay(getConfig(env));
    await expect(api.createInvoice({ asset: 'USDT', amount: '-1' })).rejects.toMatchObject({ code: 'AMOUNT_INVALID', retryable: false });
    const invoice = await api.createInvoice({ asset: 'USDT', amount: '1.50', payload: 'p' });
    expect(invoice).toMatchObject({ status: 'active', asset: 'USDT' });
    expect(Number(invoice.amount)).toBe(1.5);
    const [read] = await api.getInvoices({ invoice_ids: [invoice.invoice_id] });
    expect(read?.invoice_id).toBe(invoice.invoice_id);
  });

  it('Crypto Pay: an invoice whose answer is lost (a 502 after the API acted) is found by its payload, not made twice', async () => {
    const control = `${env.CRYPTOBOT_API_URL.replace(/\/api$/, '')}/__control`;
    const invoices = async () => ((await (await fetch(`${control}/invoices`)).json()) as { invoices: unknown[] }).invoices.length;
    const before = await invoices();
    await fetch(`${control}/config`, { method: 'POST', body: JSON.stringify({ failNext: { status: 502, count: 1, after: true } }) });
    const payload = `lost-answer-${crypto.randomUUID()}`;
    const invoice = await cryptoPay(getConfig(env)).createInvoice({ asset: 'USDT', amount: '2.00', payload });
    expect(invoice.payload).toBe(payload);
    expect(await invoices()).toBe(before + 1);
    // A retry of the work that made it (`lookupFirst`) finds it too.
    const again = await cryptoPay(getConfig(env)).createInvoice({ asset: 'USDT', amount: '2.00', payload }, { lookupFirst: true });
    expect(again.invoice_id).toBe(invoice.invoice_id);
    expect(await invoices()).toBe(before + 1);
  });

  it('Remnawave: every user, page by page, each cut to what the jobs read (the whole list of 100,000 held ~107 MB)', async () => {
    const users = Array.from({ length: 1_205 }, (_, i) => ({
      id: 7_000_000 + i,
      username: `page_${i}`,
      status: i % 2 ? 'ACTIVE' : 'EXPIRED',
      expireAt: new Date(Date.UTC(2030, 0, 1) + i * 60_000).toISOString(),
      telegramId: i % 3 ? 5_000_000_000 + i : null,
    }));
    expect((await fetch(`${panelControl}/users`, { method: 'POST', body: JSON.stringify({ users }) })).ok).toBe(true);
    const all = await remnawave(getConfig(env)).allUsers();
    const ours = all.filter((u) => u.id >= 7_000_000 && u.id < 7_000_000 + users.length);
    expect(ours).toHaveLength(users.length);
    expect(ours.find((u) => u.id === 7_000_001)).toEqual({
      id: 7_000_001,
      status: 'ACTIVE',
      expireAt: users[1]?.expireAt,
      telegramId: 5_000_000_001,
    });
    expect(new Set(all.map((u) => Object.keys(u).sort().join()))).toEqual(new Set(['expireAt,id,status,telegramId']));
  });

  it("Remnawave: a run's signal ends a call at once, and the service is not held to blame", async () => {
    await configurePanel({ latencyMs: 3000 });
    try {
      const run = new AbortController();
      const started = Date.now();
      const call = remnawave(getConfig(env), { signal: run.signal }).stats();
      setTimeout(() => run.abort(new Error('run timed out')), 100);
      await expect(call).rejects.toThrow('run timed out');
      expect(Date.now() - started).toBeLessThan(1000);
      // An aborted signal: no request at all.
      await expect(remnawave(getConfig(env), { signal: AbortSignal.abort(new Error('over')) }).stats()).rejects.toThrow('over');
    } finally {
      await calm();
    }
    await expect(remnawave(getConfig(env)).stats()).resolves.toBeDefined();
  });

  it('refuses to run without their configuration, naming the variable', () => {
    const config = getConfig(env);
    expect(() => cryptoPay({ ...config, CRYPTOBOT_TOKEN: '' })).toThrow('CRYPTOBOT_TOKEN is not set');
    expect(() => remnawave({ ...config, REMNAWAVE_URL: '' })).toThrow('REMNAWAVE_URL is not set');
  });
});
