/** The stand-ins' server kit on a toy API: body cap, control routing, replies, latency. */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { parseParams } from './body.ts';
import { ControlError, sinceSeq } from './control.ts';
import { drawLatencyMs, parseLatency } from './latency.ts';
import { nginxPage, startServer } from './server.ts';
import { controlClient } from './testing.ts';

const LIMIT = 64;
const server = await startServer(
  {},
  {
    maxBodyBytes: LIMIT,
    tooLarge: nginxPage(413),
    control: {
      'GET seq': ({ query }) => ({ status: 200, body: { since: sinceSeq(query) } }),
      'POST echo': (req) => ({ status: 200, body: { echo: req.json() } }),
      'POST object': (req) => ({ status: 200, body: req.object('give an object') }),
      'POST refuse': () => {
        throw new ControlError(409, 'not now');
      },
      'POST mapped': () => {
        throw new RangeError('out of range');
      },
      'POST crash': () => {
        throw new Error('a bug');
      },
    },
    controlErrors: (e) => (e instanceof RangeError ? { status: 422, body: { error: e.message } } : undefined),
    serve: async (req, url, body) =>
      url.pathname === '/drop' ? undefined : { status: 200, body: { method: req.method, bytes: body.length, path: url.pathname } },
    crashed: (_req, e) => ({ status: 500, body: { crashed: String(e) } }),
  },
);
after(() => server.close());
const control = controlClient(server.origin);

test('the API gets the whole body; a body over the cap is drained and answered tooLarge, chunked or not', async () => {
  const ok = await fetch(`${server.origin}/x`, { method: 'POST', body: 'a'.repeat(LIMIT) });
  assert.deepEqual(await ok.json(), { method: 'POST', bytes: LIMIT, path: '/x' });
  const declared = await fetch(`${server.origin}/x`, { method: 'POST', body: 'a'.repeat(LIMIT + 1) });
  assert.deepEqual([declared.status, declared.headers.get('content-type')], [413, 'text/html']);
  assert.match(await declared.text(), /<title>413 Request Entity Too Large<\/title>/);
  const chunks = new ReadableStream({
    start(c) {
      for (let i = 0; i < 3; i++) c.enqueue(new TextEncoder().encode('b'.repeat(LIMIT / 2)));
      c.close();
    },
  });
  const chunked = await fetch(`${server.origin}/x`, { method: 'POST', body: chunks, duplex: 'half' } as RequestInit);
  assert.equal(chunked.status, 413);
  await chunked.text();
  const control413 = await fetch(`${server.origin}/__control/echo`, { method: 'POST', body: 'c'.repeat(LIMIT + 1) });
  assert.deepEqual(
    [control413.status, await control413.json()],
    [413, { error: `Request Entity Too Large: the body is over ${LIMIT} bytes` }],
  );
  await assert.rejects(fetch(`${server.origin}/drop`), 'undefined drops the connection');
});

test('control routes: by method and name, trailing slash ignored, 404 otherwise', async () => {
  assert.deepEqual(await control('seq?since_seq=7'), { status: 200, json: { since: 7 } });
  assert.deepEqual((await control('seq/?since_seq=x')).json, { since: 0 });
  assert.deepEqual(await control('echo', [1, 2]), { status: 200, json: { echo: [1, 2] } });
  assert.deepEqual(await control('nope'), { status: 404, json: { error: 'no control route GET /__control/nope' } });
  assert.deepEqual(await control('seq', {}), { status: 404, json: { error: 'no control route POST /__control/seq' } });
  assert.deepEqual(await control('toString'), { status: 404, json: { error: 'no control route GET /__control/toString' } });
});

test('control bodies: malformed JSON and non-objects refused with 400; thrown errors mapped, others answered crashed', async () => {
  const post = async (path: string, body: string) => {
    const res = await fetch(`${server.origin}/__control/${path}`, { method: 'POST', body });
    return { status: res.status, json: (await res.json()) as unknown };
  };
  assert.deepEqual(await post('echo', '{'), { status: 400, json: { error: 'body must be JSON' } });
  assert.deepEqual(await post('echo', ''), { status: 200, json: { echo: {} } });
  assert.deepEqual(await post('object', '[1]'), { status: 400, json: { error: 'give an object' } });
  assert.deepEqual(await post('object', '{'), { status: 400, json: { error: 'give an object' } });
  assert.deepEqual(await post('object', '{"a":1}'), { status: 200, json: { a: 1 } });
  assert.deepEqual(await post('refuse', ''), { status: 409, json: { error: 'not now' } });
  assert.deepEqual(await post('mapped', ''), { status: 422, json: { error: 'out of range' } });
  assert.deepEqual(await post('crash', ''), { status: 500, json: { crashed: 'Error: a bug' } });
});

test('params: query and body merged, the body winning; JSON, multipart and form bodies; fields decoded', () => {
  const query = new URLSearchParams({ a: '1', b: 'query' });
  const upper = (_key: string, value: string) => value.toUpperCase();
  assert.deepEqual(parseParams('application/json', Buffer.from('{"b":2}'), query), { a: '1', b: 2 });
  assert.deepEqual(parseParams(undefined, Buffer.from('b=form'), query, upper), { a: '1', b: 'FORM' });
  const multipart = Buffer.from('--x\r\ncontent-disposition: form-data; name="b"\r\n\r\npart\r\n--x--\r\n');
  assert.deepEqual(parseParams('multipart/form-data; boundary=x', multipart, query), { a: '1', b: 'part' });
  assert.throws(() => parseParams('application/json', Buffer.from('[1]'), query));
  assert.throws(() => parseParams('multipart/form-data', multipart, query));
});

test('latency: fixed or a range drawn uniformly, never negative; parsed from the command line', () => {
  assert.equal(drawLatencyMs(40), 40);
  assert.equal(drawLatencyMs(-5), 0);
  assert.equal(drawLatencyMs({ min: 30, max: 10 }), 30);
  for (let i = 0; i < 100; i++) {
    const ms = drawLatencyMs({ min: 25, max: 55 });
    assert.ok(ms >= 25 && ms <= 55, String(ms));
  }
  assert.deepEqual([parseLatency('40'), parseLatency('25-55'), parseLatency('2.5 - 4')], [40, { min: 25, max: 55 }, { min: 2.5, max: 4 }]);
});
