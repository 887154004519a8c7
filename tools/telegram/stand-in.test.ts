/** The Telegram stand-in's Bot API methods, request bodies, errors, control API and webhook delivery. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startReceiver } from '../standin/testing.ts';
import { MAX_BODY_BYTES } from './body.ts';
import { answer, chat, expectError, fileStandIn, result, TOKEN } from './testing.ts';

const { standIn, call, control } = await fileStandIn();
const base = standIn.url;

test('getMe', async () => {
  const me = result(await call('getMe'));
  assert.equal(me.id, 123456);
  assert.equal(me.is_bot, true);
  assert.equal(me.username, 'flarecast_bot');
  assert.equal(me.supports_inline_queries, false);
});

test('sendMessage ok and recorded', async () => {
  const id = chat();
  const msg = result(await call('sendMessage', { chat_id: id, text: 'hello <b>world</b>', parse_mode: 'HTML' }));
  assert.equal(msg.message_id, 1);
  assert.equal(msg.text, 'hello world');
  assert.deepEqual(msg.entities, [{ type: 'bold', offset: 6, length: 5 }]);
  assert.deepEqual(msg.chat, { id, first_name: 'User', username: `user${id}`, type: 'private' });
  assert.equal((msg.from as Record<string, unknown>).id, 123456);
  assert.ok(Math.abs((msg.date as number) - Date.now() / 1000) < 5);
  assert.equal(result(await call('sendMessage', { chat_id: id, text: 'again' })).message_id, 2);
  assert.equal(standIn.deliveries.length, 2);
  assert.deepEqual(
    standIn.deliveries.map((d) => [d.method, d.chat_id, d.message_id, d.text, d.paid]),
    [
      ['sendMessage', id, 1, 'hello world', false],
      ['sendMessage', id, 2, 'again', false],
    ],
  );
  assert.equal(standIn.stats.sends, 2);
});

test('auth, routing and validation errors', async () => {
  expectError(await call('getMe', {}, '999:nope'), 401, 'Unauthorized');
  expectError(await call('getMe', {}, 'garbage'), 401, 'Unauthorized');
  expectError(await call('sendTelepathy', { chat_id: 1 }), 404, 'Not Found');
  expectError(await call('sendMessage', { text: 'x' }), 400, 'Bad Request: chat_id is empty');
  expectError(await call('sendMessage', { chat_id: chat() }), 400, 'Bad Request: message text is empty');
  expectError(await call('sendMessage', { chat_id: chat(), text: 'x'.repeat(4097) }), 400, 'Bad Request: message is too long');
  result(await call('sendMessage', { chat_id: chat(), text: 'x'.repeat(4096) }));
  expectError(
    await call('sendPhoto', { chat_id: chat(), photo: 'AgAD', caption: 'c'.repeat(1025) }),
    400,
    'Bad Request: message caption is too long',
  );
  expectError(await call('sendPhoto', { chat_id: chat() }), 400, 'Bad Request: there is no photo in the request');
  const bad = await call('sendMessage', { chat_id: chat(), text: '<b>open', parse_mode: 'HTML' });
  expectError(bad, 400, `Bad Request: can't parse entities: Can't find end tag corresponding to start tag "b"`);
  const unknown = await call('sendMessage', { chat_id: chat(), text: 'a <blink>b</blink>', parse_mode: 'HTML' });
  expectError(unknown, 400, `Bad Request: can't parse entities: Unsupported start tag "blink" at byte offset 2`);
  const [blocked, deactivated, missing] = [chat(), chat(), chat()];
  standIn.configure({ blockedChats: [blocked], deactivatedChats: [deactivated], missingChats: [missing] });
  expectError(await call('sendMessage', { chat_id: blocked, text: 'x' }), 403, 'Forbidden: bot was blocked by the user');
  expectError(await call('sendMessage', { chat_id: deactivated, text: 'x' }), 403, 'Forbidden: user is deactivated');
  expectError(await call('sendMessage', { chat_id: missing, text: 'x' }), 400, 'Bad Request: chat not found');
  expectError(await call('getChat', { chat_id: missing }), 400, 'Bad Request: chat not found');
  assert.equal(standIn.deliveries.length, 1);
});

test('copyMessage, forwardMessage, media and edits', async () => {
  const [src, dst] = [chat(), chat()];
  const original = result(await call('sendMessage', { chat_id: src, text: 'to copy' }));
  const copy = result(await call('copyMessage', { chat_id: dst, from_chat_id: src, message_id: original.message_id }));
  assert.deepEqual(Object.keys(copy), ['message_id']);
  assert.equal(standIn.deliveries.at(-1)?.text, 'to copy');
  standIn.configure({ deletedMessages: [{ chat_id: src, message_id: 99 }] });
  expectError(
    await call('copyMessage', { chat_id: dst, from_chat_id: src, message_id: 99 }),
    400,
    'Bad Request: message to copy not found',
  );
  const fwd = result(await call('forwardMessage', { chat_id: dst, from_chat_id: src, message_id: original.message_id }));
  assert.equal(fwd.text, 'to copy');
  assert.ok(fwd.forward_origin);
  const group = result(
    await call('sendMediaGroup', {
      chat_id: chat(),
      media: [
        { type: 'photo', media: 'AgACphoto', caption: '<i>one</i>', parse_mode: 'HTML' },
        { type: 'video', media: 'https://example.com/v.mp4' },
      ],
    }),
  ) as unknown as Array<Record<string, unknown>>;
  assert.equal(group.length, 2);
  assert.equal(group[0]?.caption, 'one');
  assert.equal(group[0]?.media_group_id, group[1]?.media_group_id);
  const edited = result(await call('editMessageText', { chat_id: src, message_id: original.message_id, text: 'edited' }));
  assert.equal(edited.text, 'edited');
  assert.ok(edited.edit_date);
  expectError(
    await call('editMessageText', { chat_id: src, message_id: original.message_id, text: 'edited' }),
    400,
    'Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message',
  );
  assert.equal(result(await call('deleteMessage', { chat_id: src, message_id: original.message_id })), true as unknown);
  expectError(
    await call('deleteMessage', { chat_id: src, message_id: original.message_id }),
    400,
    'Bad Request: message to delete not found',
  );
  assert.deepEqual(
    standIn.calls.map((c) => [c.method, c.status]),
    [
      ['editMessageText', 200],
      ['editMessageText', 400],
      ['deleteMessage', 200],
      ['deleteMessage', 400],
    ],
  );
});

test('multipart and form-urlencoded bodies', async () => {
  const [a, b, c] = [chat(), chat(), chat()];
  const boundary = 'grammy0123';
  // The exact layout grammY produces: lower-case headers, no space after the colon, unquoted filename.
  const parts = [
    `--${boundary}\r\ncontent-disposition:form-data;name="chat_id"\r\n\r\n${a}`,
    `\r\n--${boundary}\r\ncontent-disposition:form-data;name="caption"\r\n\r\nmultipart caption`,
    `\r\n--${boundary}\r\ncontent-disposition:form-data;name="photo"\r\n\r\nattach://f1`,
    `\r\n--${boundary}\r\ncontent-disposition:form-data;name="reply_markup"\r\n\r\n{"inline_keyboard":[[{"text":"k","callback_data":"d"}]]}`,
    `\r\n--${boundary}\r\ncontent-disposition:form-data;name="f1";filename=cat.jpg\r\ncontent-type:application/octet-stream\r\n\r\n\u0000\u0001binary\r\n--x`,
    `\r\n--${boundary}--\r\n`,
  ];
  const photo = await fetch(`${base}/bot${TOKEN}/sendPhoto`, {
    method: 'POST',
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    body: parts.join(''),
  });
  const sent = result(await answer(photo));
  assert.equal(sent.caption, 'multipart caption');
  assert.ok(Array.isArray(sent.photo));
  assert.deepEqual(sent.reply_markup, { inline_keyboard: [[{ text: 'k', callback_data: 'd' }]] });
  const form = new FormData();
  form.set('chat_id', String(b));
  form.set('text', 'multipart text');
  const multi = await fetch(`${base}/bot${TOKEN}/sendMessage`, { method: 'POST', body: form });
  assert.equal(result(await answer(multi)).text, 'multipart text');
  const urlencoded = await fetch(`${base}/bot${TOKEN}/sendMessage`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ chat_id: String(c), text: '[form] & more', allow_paid_broadcast: 'true' }),
  });
  assert.equal(result(await answer(urlencoded)).text, '[form] & more');
  const get = await fetch(`${base}/bot${TOKEN}/sendMessage?chat_id=${chat()}&text=query`);
  assert.equal(result(await answer(get)).text, 'query');
  assert.deepEqual(
    standIn.deliveries.map((d) => [d.method, d.caption ?? d.text, d.paid]),
    [
      ['sendPhoto', 'multipart caption', false],
      ['sendMessage', 'multipart text', false],
      ['sendMessage', '[form] & more', true],
      ['sendMessage', 'query', false],
    ],
  );
});

test('control endpoints and webhook delivery', async () => {
  const id = chat();
  result(await call('sendMessage', { chat_id: id, text: 'one' }));
  result(await call('sendMessage', { chat_id: chat(), text: 'elsewhere' }));
  const all = await control('deliveries');
  assert.equal((all.json.deliveries as unknown[]).length, 2);
  const mine = await control(`deliveries?chat_id=${id}`);
  const list = mine.json.deliveries as Array<{ seq: number; text: string }>;
  assert.deepEqual(
    list.map((d) => d.text),
    ['one'],
  );
  const after = await control(`deliveries?since_seq=${list[0]?.seq ?? 0}`);
  assert.deepEqual(
    (after.json.deliveries as Array<{ text: string }>).map((d) => d.text),
    ['elsewhere'],
  );
  const stats = await control('stats');
  assert.equal(stats.json.sends, 2);
  assert.deepEqual([stats.json.floods, stats.json.arrivedDuringFlood, stats.json.sentAfterFloodAnswered], [0, 0, 0]);
  assert.equal(((await control('arrivals')).json.arrivals as unknown[]).length, 2);
  assert.deepEqual(stats.json.byMethod, { sendMessage: 2 });
  assert.equal((await control('config', { rateLimit: 1 })).status, 200);
  result(await call('sendMessage', { chat_id: chat(), text: 'a' }));
  assert.equal((await call('sendMessage', { chat_id: chat(), text: 'b' })).status, 429);
  assert.equal((await control('reset', {})).status, 200);
  assert.equal(standIn.deliveries.length, 0);
  assert.equal(standIn.stats.requests, 0);

  assert.equal((await control('updates', { message: { text: 'hi' } })).status, 409);
  // A webhook reply: the stand-in must run it as a sendMessage.
  const hook = await startReceiver(() => ({
    status: 200,
    type: 'application/json',
    body: JSON.stringify({ method: 'sendMessage', chat_id: 4242, text: 'webhook reply' }),
  }));
  const hookUrl = `${hook.origin}/telegram`;
  const set = await call('setWebhook', { url: hookUrl, secret_token: 's3cret_-' });
  assert.deepEqual(set.body, { ok: true, result: true, description: 'Webhook was set' });
  assert.equal((result(await call('getWebhookInfo')) as { url: string }).url, hookUrl);
  const pushed = await control('updates', { message: { message_id: 1, text: 'hi', chat: { id: 4242, type: 'private' } } });
  assert.equal(pushed.status, 200);
  assert.equal(pushed.json.status, 200);
  assert.match(String(pushed.json.body), /webhook reply/);
  assert.equal(hook.hits[0]?.headers['x-telegram-bot-api-secret-token'], 's3cret_-');
  assert.equal(typeof (JSON.parse(hook.hits[0]?.raw ?? '{}') as { update_id?: unknown }).update_id, 'number');
  assert.equal(standIn.deliveries.at(-1)?.text, 'webhook reply');
  await hook.close();
  assert.deepEqual((await call('deleteWebhook')).body, { ok: true, result: true, description: 'Webhook was deleted' });
});

test('a body over 50 MB is refused with 413, as the real API does', async () => {
  const res = await fetch(`${base}/bot${TOKEN}/sendDocument`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: new Uint8Array(MAX_BODY_BYTES + 1),
  });
  expectError(await answer(res), 413, 'Request Entity Too Large');
  assert.equal(standIn.stats.requests, 0);
  const refused = await fetch(`${base}/__control/updates`, { method: 'POST', body: new Uint8Array(MAX_BODY_BYTES + 1) });
  assert.equal(refused.status, 413);
  result(await call('getMe'));
});

test('close() does not wait for keep-alive sockets', async () => {
  result(await call('getMe'));
  const closing = performance.now();
  await standIn.close();
  assert.ok(performance.now() - closing < 1000, 'close() must not wait for keep-alive sockets');
});
