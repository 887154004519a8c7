import { writeFileSync } from 'node:fs';
import WebSocket from 'ws';

process.env.INSPECTOR_PORT = '9229';
const bench = import('../bench/broadcast.bench.ts');
await new Promise((r) => setTimeout(r, 22000));
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
await send('Profiler.enable');
await send('Profiler.start');
await new Promise((r) => setTimeout(r, 8000));
const { profile } = await send('Profiler.stop');
writeFileSync('/tmp/prof.cpuprofile', JSON.stringify(profile));
ws.close();
await bench;
