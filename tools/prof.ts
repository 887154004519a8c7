import { writeFileSync } from 'node:fs';
import WebSocket from 'ws';
import { runLoad } from '../bench/load.ts';
import { startStack } from './stack.ts';

process.env.INSPECTOR_PORT = '9229';
const stack = await startStack({ port: 8797, dataDir: '.data/bench', memoryDb: true, runtime: 'bundle', onLog: () => {} });
const targets = (await (await fetch('http://127.0.0.1:9229/json')).json()) as { webSocketDebuggerUrl: string; title: string }[];
const target = targets.find((t) => t.title.includes('flarecast')) ?? targets[0]!;
const ws = new WebSocket(target.webSocketDebuggerUrl);
await new Promise((r) => ws.once('open', r));
let id = 0;
const send = (method: string, params = {}) =>
  new Promise<any>((resolve) => {
    const my = ++id;
    ws.on('message', function h(d) {
      const m = JSON.parse(String(d));
      if (m.id === my) {
        ws.off('message', h);
        resolve(m.result);
      }
    });
    ws.send(JSON.stringify({ id: my, method, params }));
  });
const req = (i: number) => {
  const from = { id: 5000 + (i % 500), is_bot: false, first_name: 'P', language_code: 'en' };
  return {
    url: `${stack.url}/telegram/webhook`,
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': stack.vars.TELEGRAM_WEBHOOK_SECRET! },
    body: JSON.stringify({
      update_id: 900000 + i,
      message: { message_id: i, date: 1, chat: { id: from.id, type: 'private', first_name: 'P' }, from, text: 'hi' },
    }),
  };
};
await runLoad(
  Array.from({ length: 300 }, (_, i) => req(i)),
  16,
);
await send('Profiler.enable');
await send('Profiler.start');
await runLoad(
  Array.from({ length: 2000 }, (_, i) => req(1000 + i)),
  16,
);
const { profile } = await send('Profiler.stop');
writeFileSync('/tmp/prof.cpuprofile', JSON.stringify(profile));
ws.close();
await stack.close();
