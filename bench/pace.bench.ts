/**
 * What a pace leaves of Telegram's limit under the strict stand-in's jitter, over hours rather than a
 * run: the gate's own scheduler grants the slots, each send leaves on time or (a share of them, after
 * a stall) up to 8 ms late, arrives with the stand-in's inbound latency (half the latency ± the
 * jitter) and is counted by the stand-in's own sliding window. A model of the network, not a
 * measurement of the engine (`bench:broadcast` is that): it weighs margins too thin for a 20 s run
 * to show.
 *
 *   npm run bench:pace -- [--limit 1000] [--paces 0.96,0.97,0.98] [--minutes 10] [--late 0.05]
 */
import { parseArgs } from 'node:util';
import { DEFAULT_PACE, SendScheduler, STALE_SLOT_MS } from '../durable-objects/gate/send-scheduler.ts';
import { SlidingWindow } from '../tools/telegram/buckets.ts';
import { figure } from './lib.ts';

const { values } = parseArgs({
  options: {
    /** The limit paced: 1000 (paid sends) or 30 (ordinary ones). */
    limit: { type: 'string', default: '1000' },
    paces: { type: 'string', default: '0.96,0.97,0.98' },
    minutes: { type: 'string', default: '10' },
    /** Share of sends that leave late (0–8 ms): those after a stall of the sender's thread. */
    late: { type: 'string', default: '0.05' },
    latency: { type: 'string', default: '40' },
    jitter: { type: 'string', default: '15' },
  },
});
const limit = Number(values.limit);
const paid = limit > 30;
const spanMs = Number(values.minutes) * 60_000;
const [lateShare, latencyMs, jitterMs] = [Number(values.late), Number(values.latency), Number(values.jitter)];

console.log(
  `\npace model: ${limit}/s ${paid ? 'paid' : 'ordinary'}, ${values.minutes} min, ${latencyMs} ± ${jitterMs} ms, ${lateShare * 100} % of sends up to ${STALE_SLOT_MS} ms late`,
);
for (const pace of values.paces.split(',').map(Number)) {
  const limits = { freeRate: limit, paidRate: paid ? limit : 1000 };
  const scheduler = new SendScheduler(
    limits,
    { ...DEFAULT_PACE, target: pace, paidTarget: pace },
    { now: -1000, epoch: 0, blockedUntil: 0 },
  );
  const arrivals: number[] = [];
  for (let now = 0; now < spanMs; now += 50)
    for (const slot of scheduler.acquire(now, { count: limit, paid, priority: 'bulk' }).times) {
      const late = Math.random() < lateShare ? Math.random() * STALE_SLOT_MS : 0;
      arrivals.push(slot + late + latencyMs / 2 + (Math.random() * 2 - 1) * jitterMs);
    }
  arrivals.sort((a, b) => a - b);
  const window = new SlidingWindow(limit);
  let refused = 0;
  let busiest = 0;
  for (let i = 0, first = 0; i < arrivals.length; i++) {
    const at = arrivals[i] as number;
    while ((arrivals[first] as number) <= at - 1000) first++;
    busiest = Math.max(busiest, i - first + 1);
    if (window.waitMs(at) > 0) refused++;
    else window.add(at);
  }
  figure(`pace ${pace}: sends ÷ limit`, (arrivals.length / (spanMs / 1000) / limit).toFixed(3));
  figure('  busiest second (sends in a sliding 1 s)', busiest, `<= ${limit}`);
  figure('  past the limit (429s) per million sends', Math.round((refused / arrivals.length) * 1e6), '0');
}
