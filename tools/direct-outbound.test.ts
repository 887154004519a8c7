import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';

test("the benchmarks' Miniflare sends a Worker's fetch straight out, not through its interceptor Worker", async () => {
  await import('./direct-outbound.ts');
  const { Miniflare, convertV4MiniflareOptions } = await import('miniflare');
  const seen: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    seen.push(req.headers);
    res.end('ok');
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const target = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  let mf: InstanceType<typeof Miniflare> | undefined;
  try {
    mf = new Miniflare(
      convertV4MiniflareOptions({
        modules: true,
        script: `export default { fetch: () => fetch(${JSON.stringify(target)}) }`,
        compatibilityDate: '2025-01-01',
      }),
    );
    const res = await mf.dispatchFetch('http://worker/');
    assert.equal(await res.text(), 'ok');
    assert.equal(seen.length, 1);
    // Miniflare's interceptor stamps every request it forwards with CF-Worker.
    assert.equal(seen[0]?.['cf-worker'], undefined);
  } finally {
    await mf?.dispose();
    server.close();
  }
});
