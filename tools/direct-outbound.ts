/**
 * Miniflare sends every outbound `fetch` of a Worker through an interceptor Worker of its own
 * (`outbound:<n>`: it strips `CF-Connecting-IP` and adds `CF-Worker`), which runs on the same workerd
 * thread: each Telegram call enters a second isolate and makes a second fetch. A deployed Worker has
 * no such hop, and in a benchmark it takes the one thread from the Worker being measured (the paid
 * broadcast lost 1–2 % of its rate to it). This hook points the Worker's global outbound straight at
 * the network in the Miniflare that `tools/stack.ts` runs in-process: the `bundle` runtime of the
 * benchmarks. `npm start` (`wrangler dev`) and the Worker tests (the vitest pool) keep Miniflare as it is.
 * It must be imported before `miniflare` is.
 */
import { registerHooks } from 'node:module';

const MINIFLARE = /\/node_modules\/miniflare\/dist\/src\/index\.js$/;
const INTERCEPTED = 'globalOutbound: { name: getOutboundInterceptorName(workerIndex) },';
const DIRECT = 'globalOutbound: { name: "internet" },';

registerHooks({
  load(url, context, nextLoad) {
    const loaded = nextLoad(url, context);
    if (!MINIFLARE.test(url)) return loaded;
    const source = String(loaded.source);
    // A Miniflare that no longer reads this way must be looked at again, not silently measured through its hop.
    if (!source.includes(INTERCEPTED))
      throw new Error(`tools/direct-outbound.ts: ${url} no longer sets the interceptor as the Worker's outbound`);
    return { ...loaded, source: source.replace(INTERCEPTED, DIRECT) };
  },
});
