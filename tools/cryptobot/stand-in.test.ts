/** The Crypto Pay stand-in: invoice methods, expiry, payments and their signed webhooks, failures, the control API. */
import assert from 'node:assert/strict';
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { after, beforeEach, test } from 'node:test';
import { controlClient, startReceiver } from '../standin/testing.ts';
import { MAX_BODY_BYTES } from './body.ts';
import type { Invoice, PayResult } from './stand-in.ts';
import { buildInvoicePaidUpdate, CRYPTOBOT_TEST_TOKEN, signCryptoPayBody, startCryptoBotStandIn } from './stand-in.ts';

interface Answer {
  status: number;
  body: { ok: boolean; result?: unknown; error?: { code: number; name: string } };
}

const standIn = await startCryptoBotStandIn();
const control = controlClient(standIn.origin);

/** POSTs JSON like most clients; `get: true` sends the params as a query string instead. */
async function call(
  method: string,
  params: Record<string, unknown> = {},
  opts: { token?: string | null; get?: boolean } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  const token = opts.token === undefined ? CRYPTOBOT_TEST_TOKEN : opts.token;
  if (token !== null) headers['Crypto-Pay-API-Token'] = token;
  let res: Response;
  if (opts.get) {
    const query = new URLSearchParams(Object.entries(params).map(([k, v]): [string, string] => [k, String(v)]));
    res = await fetch(`${standIn.url}/${method}?${query}`, { headers });
  } else {
    headers['content-type'] = 'application/json';
    res = await fetch(`${standIn.url}/${method}`, { method: 'POST', headers, body: JSON.stringify(params) });
  }
  return { status: res.status, body: (await res.json()) as Answer['body'] };
}

function result<T = Record<string, unknown>>(a: Answer): T {
  assert.equal(a.status, 200, JSON.stringify(a.body));
  assert.equal(a.body.ok, true);
  return a.body.result as T;
}

function expectError(a: Answer, code: number, name: string): void {
  assert.deepEqual({ status: a.status, body: a.body }, { status: code, body: { ok: false, error: { code, name } } });
}

async function createInvoice(params: Record<string, unknown> = {}): Promise<Invoice> {
  return result<Invoice>(await call('createInvoice', { asset: 'USDT', amount: '10', ...params }));
}

/** The signature recomputed from the spec, independently of the stand-in's helper. */
function expectedSignature(token: string, raw: string): string {
  return createHmac('sha256', createHash('sha256').update(token).digest()).update(raw).digest('hex');
}

/** A webhook receiver that records raw bodies and headers and answers `receiverStatus`. */
let receiverStatus = 200;
const receiver = await startReceiver(() => ({ status: receiverStatus, type: 'application/json', body: '{"ok":true}' }));
const received = receiver.hits;
const hookUrl = `${receiver.origin}/cryptobot/webhook`;
after(async () => {
  await standIn.close();
  await receiver.close();
});

beforeEach(() => {
  standIn.reset();
  standIn.configure({ latencyMs: 0, webhookUrl: hookUrl });
  received.length = 0;
  receiverStatus = 200;
});

test('getMe, auth and routing', async () => {
  assert.match(standIn.url, /^http:\/\/127\.0\.0\.1:\d+\/api$/);
  assert.deepEqual(result(await call('getMe')), {
    app_id: 12345,
    name: 'Flarecast Stand-in',
    payment_processing_bot_username: 'CryptoBot',
  });
  result(await call('getMe', {}, { get: true }));
  expectError(await call('getMe', {}, { token: null }), 401, 'UNAUTHORIZED');
  expectError(await call('getMe', {}, { token: '12345:wrong' }), 401, 'UNAUTHORIZED');
  expectError(await call('transfer', { user_id: 1 }), 405, 'METHOD_NOT_FOUND');
  const raw = await fetch(`${standIn.url}/createInvoice`, {
    method: 'POST',
    headers: { 'Crypto-Pay-API-Token': CRYPTOBOT_TEST_TOKEN, 'content-type': 'application/json' },
    body: '{broken',
  });
  assert.equal(raw.status, 400);
  assert.equal(((await raw.json()) as Answer['body']).error?.name, 'PARAMS_INVALID');
  const calls = (await control<{ calls: Array<{ method: string; status: number; error?: string }> }>('calls')).json.calls;
  assert.deepEqual(
    calls.map((c) => [c.method, c.status, c.error]),
    [
      ['getMe', 200, undefined],
      ['getMe', 200, undefined],
      ['getMe', 401, 'UNAUTHORIZED'],
      ['getMe', 401, 'UNAUTHORIZED'],
      ['transfer', 405, 'METHOD_NOT_FOUND'],
      ['createInvoice', 400, 'PARAMS_INVALID'],
    ],
  );
});

test('createInvoice returns the full Invoice', async () => {
  const before = Date.now();
  const inv = await createInvoice({
    amount: '12.50',
    description: 'Premium, 1 month',
    payload: JSON.stringify({ user: 42 }),
    expires_in: 3600,
    allow_comments: false,
    paid_btn_name: 'openBot',
    paid_btn_url: 'https://t.me/flarecast_bot',
  });
  assert.equal(inv.invoice_id, 1);
  assert.match(inv.hash, /^IV[A-Za-z0-9]{10}$/);
  assert.equal(inv.currency_type, 'crypto');
  assert.equal(inv.asset, 'USDT');
  assert.equal(inv.fiat, undefined);
  assert.equal(inv.amount, '12.50');
  assert.equal(inv.status, 'active');
  assert.equal(inv.bot_invoice_url, `https://t.me/CryptoBot?start=${inv.hash}`);
  assert.equal(inv.pay_url, inv.bot_invoice_url);
  assert.equal(inv.mini_app_invoice_url, `https://t.me/CryptoBot/app?startapp=invoice-${inv.hash}&mode=compact`);
  assert.equal(inv.web_app_invoice_url, `https://app.cr.bot/invoices/${inv.hash}`);
  assert.equal(inv.description, 'Premium, 1 month');
  assert.equal(inv.payload, '{"user":42}');
  assert.equal(inv.allow_comments, false);
  assert.equal(inv.allow_anonymous, true);
  assert.equal(inv.paid_btn_name, 'openBot');
  const created = Date.parse(inv.created_at);
  assert.ok(created >= before - 5 && created <= Date.now() + 5);
  assert.equal(Date.parse(inv.expiration_date ?? ''), created + 3_600_000);
  for (const key of ['paid_at', 'paid_amount', 'paid_asset', 'fee_amount', 'hidden_message', 'comment']) assert.ok(!(key in inv), key);

  const viaGet = result<Invoice>(await call('createInvoice', { asset: 'TON', amount: 3 }, { get: true }));
  assert.deepEqual([viaGet.invoice_id, viaGet.asset, viaGet.amount, viaGet.expiration_date], [2, 'TON', '3', undefined]);
  const form = await fetch(`${standIn.url}/createInvoice`, {
    method: 'POST',
    headers: { 'Crypto-Pay-API-Token': CRYPTOBOT_TEST_TOKEN, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'asset=BTC&amount=0.0001&allow_anonymous=false',
  });
  const viaForm = result<Invoice>({ status: form.status, body: (await form.json()) as Answer['body'] });
  assert.deepEqual([viaForm.asset, viaForm.amount, viaForm.allow_anonymous], ['BTC', '0.0001', false]);

  const fiat = result<Invoice>(
    await call('createInvoice', { currency_type: 'fiat', fiat: 'USD', amount: '5', accepted_assets: 'USDT,TON' }),
  );
  assert.deepEqual([fiat.currency_type, fiat.fiat, fiat.asset, fiat.accepted_assets], ['fiat', 'USD', undefined, ['USDT', 'TON']]);
  const anyAsset = result<Invoice>(await call('createInvoice', { currency_type: 'fiat', fiat: 'RUB', amount: '450' }));
  assert.ok(anyAsset.accepted_assets?.includes('BTC'));
});

test('createInvoice validation', async () => {
  const bad = async (params: Record<string, unknown>, name: string) => expectError(await call('createInvoice', params), 400, name);
  await bad({ amount: '1' }, 'ASSET_INVALID');
  await bad({ asset: 'DOGE', amount: '1' }, 'ASSET_INVALID');
  await bad({ currency_type: 'gold', asset: 'USDT', amount: '1' }, 'CURRENCY_TYPE_INVALID');
  await bad({ currency_type: 'fiat', fiat: 'XYZ', amount: '1' }, 'FIAT_INVALID');
  await bad({ currency_type: 'fiat', fiat: 'USD', amount: '1', accepted_assets: 'USDT,DOGE' }, 'ACCEPTED_ASSETS_INVALID');
  for (const amount of [undefined, '', 'abc', '-1', '0', '1e3', '1,5']) await bad({ asset: 'USDT', amount }, 'AMOUNT_INVALID');
  await bad({ asset: 'USDT', amount: '1', description: 'd'.repeat(1025) }, 'DESCRIPTION_TOO_LONG');
  await bad({ asset: 'USDT', amount: '1', hidden_message: 'h'.repeat(2049) }, 'HIDDEN_MESSAGE_TOO_LONG');
  await bad({ asset: 'USDT', amount: '1', payload: 'p'.repeat(4097) }, 'PAYLOAD_TOO_LONG');
  await bad({ asset: 'USDT', amount: '1', paid_btn_name: 'dance', paid_btn_url: 'https://x.y' }, 'PAID_BTN_NAME_INVALID');
  await bad({ asset: 'USDT', amount: '1', paid_btn_name: 'callback' }, 'PAID_BTN_URL_REQUIRED');
  await bad({ asset: 'USDT', amount: '1', paid_btn_name: 'callback', paid_btn_url: 'ftp://x' }, 'PAID_BTN_URL_INVALID');
  for (const expires_in of [0, 2_678_401, 'soon', 1.5]) await bad({ asset: 'USDT', amount: '1', expires_in }, 'EXPIRES_IN_INVALID');
  // The limits themselves are accepted.
  await createInvoice({
    description: 'd'.repeat(1024),
    hidden_message: 'h'.repeat(2048),
    payload: 'p'.repeat(4096),
    expires_in: 2_678_400,
  });
  await createInvoice({ expires_in: 1 });
  assert.equal(standIn.invoices().length, 2);
});

test('getInvoices filters, pages and validates; deleteInvoice', async () => {
  const ids: number[] = [];
  for (const asset of ['USDT', 'TON', 'USDT', 'BTC']) ids.push((await createInvoice({ asset })).invoice_id);
  await standIn.pay(ids[0] as number);
  const items = async (params: Record<string, unknown>, get = false) =>
    result<{ items: Invoice[] }>(await call('getInvoices', params, { get })).items.map((i) => i.invoice_id);
  const [a, b, c, d] = ids as [number, number, number, number];
  assert.deepEqual(await items({}), [d, c, b, a]);
  assert.deepEqual(await items({ invoice_ids: `${a},${c}` }, true), [c, a]);
  assert.deepEqual(await items({ invoice_ids: [b] }), [b]);
  assert.deepEqual(await items({ asset: 'USDT' }), [c, a]);
  assert.deepEqual(await items({ status: 'paid' }), [a]);
  assert.deepEqual(await items({ status: 'active', count: 2 }), [d, c]);
  assert.deepEqual(await items({ offset: 1, count: 2 }), [c, b]);
  assert.deepEqual(await items({ invoice_ids: '999' }), []);
  assert.deepEqual(await items({ count: 1000 }), [d, c, b, a]);
  expectError(await call('getInvoices', { count: 1001 }), 400, 'COUNT_INVALID');
  expectError(await call('getInvoices', { count: 0 }), 400, 'COUNT_INVALID');
  expectError(await call('getInvoices', { offset: -1 }), 400, 'OFFSET_INVALID');
  expectError(await call('getInvoices', { status: 'expired' }), 400, 'STATUS_INVALID');
  expectError(await call('getInvoices', { asset: 'DOGE' }), 400, 'ASSET_INVALID');
  expectError(await call('getInvoices', { invoice_ids: '1,x' }), 400, 'INVOICE_IDS_INVALID');

  assert.equal(result<boolean>(await call('deleteInvoice', { invoice_id: b })), true);
  assert.deepEqual(await items({}), [d, c, a]);
  expectError(await call('deleteInvoice', { invoice_id: b }), 400, 'INVOICE_NOT_FOUND');
  expectError(await call('deleteInvoice', {}), 400, 'INVOICE_ID_INVALID');
});

test('invoices expire on the stand-in clock', async () => {
  const inv = await createInvoice({ expires_in: 60 });
  const forever = await createInvoice();
  standIn.advance(59);
  const status = async (id: number) => result<{ items: Invoice[] }>(await call('getInvoices', { invoice_ids: id })).items[0]?.status;
  assert.equal(await status(inv.invoice_id), 'active');
  assert.equal((await control('advance', { seconds: 1 })).status, 200);
  assert.equal(await status(inv.invoice_id), 'expired');
  assert.equal(await status(forever.invoice_id), 'active');
  const active = result<{ items: Invoice[] }>(await call('getInvoices', { status: 'active' })).items;
  assert.deepEqual(
    active.map((i) => i.invoice_id),
    [forever.invoice_id],
  );
  const pay = await control<{ error: string }>('pay', { invoice_id: inv.invoice_id });
  assert.deepEqual([pay.status, pay.json.error], [409, `invoice ${inv.invoice_id} is expired`]);
  const later = await createInvoice();
  assert.ok(Date.parse(later.created_at) >= Date.now() + 59_000, 'new invoices use the moved clock');
});

test('pay sends a signed invoice_paid webhook', async () => {
  const inv = await createInvoice({ amount: '100', payload: 'order-7' });
  const paid = await control<PayResult>('pay', { invoice_id: inv.invoice_id, comment: 'thanks' });
  assert.equal(paid.status, 200);
  const { invoice, update, deliveries } = paid.json;
  assert.equal(invoice.status, 'paid');
  assert.deepEqual(
    [invoice.paid_asset, invoice.paid_amount, invoice.fee_asset, invoice.fee_amount, invoice.paid_usd_rate, invoice.comment],
    ['USDT', '100', 'USDT', '3', '1', 'thanks'],
  );
  assert.ok(invoice.paid_at && Math.abs(Date.parse(invoice.paid_at) - Date.now()) < 5000);
  assert.equal(invoice.paid_anonymously, false);
  assert.deepEqual(
    deliveries.map((d) => [d.status, d.forged, d.update_id]),
    [[200, false, update.update_id]],
  );

  assert.equal(received.length, 1);
  const hit = received[0] as (typeof received)[number];
  assert.equal(hit.headers['content-type'], 'application/json');
  const signature = String(hit.headers['crypto-pay-api-signature']);
  const expected = expectedSignature(CRYPTOBOT_TEST_TOKEN, hit.raw);
  assert.ok(timingSafeEqual(Buffer.from(signature, 'hex'), Buffer.from(expected, 'hex')), 'signature verifies');
  assert.equal(signCryptoPayBody(CRYPTOBOT_TEST_TOKEN, hit.raw), signature);
  const body = JSON.parse(hit.raw) as typeof update;
  assert.deepEqual(body, update);
  assert.equal(body.update_type, 'invoice_paid');
  assert.ok(!Number.isNaN(Date.parse(body.request_date)));
  assert.deepEqual(
    [body.payload.invoice_id, body.payload.status, body.payload.payload, body.payload.fee, body.payload.usd_rate],
    [inv.invoice_id, 'paid', 'order-7', '3', '1'],
  );
  assert.equal(result<{ items: Invoice[] }>(await call('getInvoices', { invoice_ids: inv.invoice_id })).items[0]?.paid_amount, '100');
  const balance = result<Array<{ currency_code: string; available: string; onhold: string }>>(await call('getBalance'));
  assert.deepEqual(
    balance.find((b) => b.currency_code === 'USDT'),
    { currency_code: 'USDT', available: '97', onhold: '0' },
  );
  assert.equal(balance.find((b) => b.currency_code === 'TON')?.available, '0');
  assert.equal((await control('pay', { invoice_id: inv.invoice_id })).status, 409);
  assert.equal((await control('pay', { invoice_id: 999_999 })).status, 404);
});

test('duplicate, forged and failed webhook deliveries', async () => {
  const inv = await createInvoice();
  const paid = await standIn.pay(inv.invoice_id, { times: 3 });
  assert.equal(received.length, 3);
  assert.equal(new Set(received.map((r) => r.raw)).size, 1, 'the same update, byte for byte');
  assert.deepEqual(
    paid.deliveries.map((d) => d.update_id),
    [paid.update.update_id, paid.update.update_id, paid.update.update_id],
  );
  const again = await control<{ deliveries: unknown[] }>('redeliver', { invoice_id: inv.invoice_id, forge: true });
  assert.equal(again.json.deliveries.length, 1);
  const forged = received[3] as (typeof received)[number];
  assert.equal(forged.raw, received[0]?.raw);
  assert.notEqual(forged.headers['crypto-pay-api-signature'], expectedSignature(CRYPTOBOT_TEST_TOKEN, forged.raw));

  const fiat = result<Invoice>(await call('createInvoice', { currency_type: 'fiat', fiat: 'USD', amount: '11', accepted_assets: 'TON' }));
  receiverStatus = 500;
  const fiatPaid = await standIn.pay(fiat.invoice_id);
  assert.deepEqual([fiatPaid.invoice.paid_asset, fiatPaid.invoice.paid_amount, fiatPaid.invoice.paid_fiat_rate], ['TON', '2', '5.5']);
  assert.equal(fiatPaid.deliveries[0]?.status, 500);
  await assert.rejects(standIn.pay(fiat.invoice_id), /is paid/);
  standIn.configure({ webhookUrl: 'http://127.0.0.1:9/nowhere' });
  const unreachable = await standIn.pay((await createInvoice()).invoice_id);
  assert.equal(unreachable.deliveries[0]?.status, 0);
  const log = (await control<{ deliveries: Array<{ status: number; forged: boolean }> }>('webhooks')).json.deliveries;
  assert.deepEqual(
    log.map((d) => [d.status, d.forged]),
    [
      [200, false],
      [200, false],
      [200, false],
      [200, true],
      [500, false],
      [0, false],
    ],
  );
  standIn.configure({ webhookUrl: null });
  assert.deepEqual((await standIn.pay((await createInvoice()).invoice_id)).deliveries, []);
});

test('failNext: 429 and 500 envelopes, 502/503 proxy pages, then back to normal', async () => {
  for (const [status, name] of [
    [429, 'TOO_MANY_REQUESTS'],
    [500, 'APP_ERROR'],
  ] as const) {
    assert.equal((await control('config', { failNext: { status, count: 2 } })).status, 200);
    expectError(await call('getMe'), status, name);
    expectError(await call('createInvoice', { asset: 'USDT', amount: '1' }), status, name);
    result(await call('getMe'));
  }
  standIn.configure({ failNext: { status: 502, count: 1 } });
  let res = await fetch(`${standIn.url}/getMe`, { headers: { 'Crypto-Pay-API-Token': CRYPTOBOT_TEST_TOKEN } });
  assert.equal(res.status, 502);
  assert.equal(res.headers.get('content-type'), 'text/html');
  assert.match(await res.text(), /502 Bad Gateway.*nginx/s);
  standIn.configure({ failNext: { status: 503, count: 1 } });
  res = await fetch(`${standIn.url}/getMe`, { headers: { 'Crypto-Pay-API-Token': CRYPTOBOT_TEST_TOKEN } });
  assert.equal(res.status, 503);
  await res.text();
  result(await call('getMe'));
  assert.equal(standIn.invoices().length, 0, 'failed calls have no effect');
  assert.equal((await control('config', { failNext: { status: 404, count: 1 } })).status, 400);
  // `after`: the call is carried out and only its answer is lost.
  standIn.configure({ failNext: { status: 502, count: 1, after: true } });
  res = await fetch(`${standIn.url}/createInvoice`, {
    method: 'POST',
    headers: { 'Crypto-Pay-API-Token': CRYPTOBOT_TEST_TOKEN, 'content-type': 'application/json' },
    body: JSON.stringify({ asset: 'USDT', amount: '1' }),
  });
  assert.equal(res.status, 502);
  await res.text();
  assert.equal(standIn.invoices().length, 1, 'the invoice exists though its answer was lost');
});

test('down drops connections; latency delays answers', async () => {
  await control('config', { down: true });
  await assert.rejects(call('getMe'));
  assert.equal((await control<{ down: boolean }>('config')).json.down, true);
  await control('config', { down: false });
  result(await call('getMe'));
  standIn.configure({ latencyMs: 120 });
  const start = performance.now();
  result(await call('getMe'));
  const took = performance.now() - start;
  assert.ok(took >= 115 && took < 1000, `took ${took.toFixed(1)} ms`);
});

test('rates, currencies, control listing and reset', async () => {
  const rates = result<Array<Record<string, unknown>>>(await call('getExchangeRates'));
  assert.deepEqual(
    rates.find((r) => r.source === 'TON' && r.target === 'USD'),
    { is_valid: true, is_crypto: true, is_fiat: false, source: 'TON', target: 'USD', rate: '5.5' },
  );
  assert.equal(rates.find((r) => r.source === 'USDT' && r.target === 'RUB')?.rate, '90');
  const currencies = result<Array<Record<string, unknown>>>(await call('getCurrencies'));
  assert.deepEqual([currencies[0]?.code, currencies[0]?.name, currencies[0]?.is_stablecoin], ['USDT', 'Tether', true]);
  assert.ok(currencies.some((c) => c.code === 'EUR' && c.is_fiat === true));

  const inv = await createInvoice();
  const listed = (await control<{ invoices: Invoice[] }>('invoices')).json.invoices;
  assert.deepEqual(
    listed.map((i) => i.invoice_id),
    [inv.invoice_id],
  );
  assert.equal((await control('reset', {})).status, 200);
  assert.deepEqual((await control<{ invoices: Invoice[] }>('invoices')).json.invoices, []);
  assert.deepEqual((await control<{ calls: unknown[] }>('calls')).json.calls, []);
  assert.ok((await createInvoice()).invoice_id > inv.invoice_id, 'ids never repeat');
  assert.equal((await control('nope')).status, 404);
});

test('pure helpers', async () => {
  assert.equal(signCryptoPayBody('1:abc', '{"a":1}'), expectedSignature('1:abc', '{"a":1}'));
  assert.notEqual(signCryptoPayBody('1:abc', '{"a":1}'), signCryptoPayBody('1:abd', '{"a":1}'));
  const invoice = { ...(await createInvoice()), status: 'paid' as const, fee_amount: '0.3', paid_usd_rate: '1' };
  const update = buildInvoicePaidUpdate(invoice, { updateId: 7, requestDate: new Date('2025-01-02T03:04:05.000Z') });
  assert.deepEqual(update, {
    update_id: 7,
    update_type: 'invoice_paid',
    request_date: '2025-01-02T03:04:05.000Z',
    payload: { ...invoice, fee: '0.3', usd_rate: '1' },
  });
  assert.equal(buildInvoicePaidUpdate(invoice).update_id, invoice.invoice_id);
});

test('a body over 1 MB is refused with nginx 413 page', async () => {
  const res = await fetch(`${standIn.url}/createInvoice`, {
    method: 'POST',
    headers: { 'Crypto-Pay-API-Token': CRYPTOBOT_TEST_TOKEN, 'content-type': 'application/json' },
    body: new Uint8Array(MAX_BODY_BYTES + 1),
  });
  assert.equal(res.status, 413);
  assert.equal(res.headers.get('content-type'), 'text/html');
  assert.match(await res.text(), /413 Request Entity Too Large.*nginx/s);
  assert.equal(standIn.invoices().length, 0);
  assert.deepEqual(standIn.calls, []);
});
