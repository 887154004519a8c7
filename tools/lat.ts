import { pool } from '../bench/lib.ts';
import { startStack } from './stack.ts';

const stack = await startStack({ port: 8796, dataDir: '.data/bench', memoryDb: true, runtime: 'bundle', onLog: () => {} });
for (const [path, c] of [
  ['/nope', 1],
  ['/nope', 1],
  ['/nope', 32],
  ['/health', 1],
  ['/health', 32],
] as const) {
  const n = 500;
  const t = performance.now();
  await pool(
    Array.from({ length: n }, (_, i) => i),
    c,
    async () => void (await (await fetch(stack.url + path)).arrayBuffer()),
  );
  console.log(path, c, (n / ((performance.now() - t) / 1000)).toFixed(0), 'req/s');
}
await stack.close();
