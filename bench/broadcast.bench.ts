/**
 * The broadcast engine against the Telegram stand-in with ~40 ms latency: a campaign to N users
 * (1% blocked, 1% missing) at 30/s, at 1,000/s paid, and with no limit (the engine's own ceiling),
 * plus a pause/resume run. Prints achieved rate ÷ limit, 429s, duplicates, lost recipients, the time
 * from pause to the last send, and the platform operations per 1,000 recipients with their cost.
 *
 *   npm run bench:broadcast -- [--free 900] [--paid 20000] [--ceiling 20000] [--pause 8000] [--only free,paid,ceiling,pause]
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { adminApi, benchStack, figure, round } from './lib.ts';

const { values } = parseArgs({
  options: {
    free: { type: 'string', default: '900' },
    paid: { type: 'string', default: '20000' },
    ceiling: { type: 'string', default: '20000' },
    pause: { type: 'string', default: '8000' },
    only: { type: 'string', default: 'free,paid,ceiling,pause' },
    latency: { type: 'string', default: '40' },
  },
});
const latencyMs = Number(values.latency);
/** Prices from ../shared/PLATFORM.md, dollars per operation. */
const PRICE = { queueOperation: 0.4 / 1e6, doRequest: 0.15 / 1e6 };

interface CampaignJson {
  id: string;
  status: string;
  total: number;
  sent: number;
  failed: number;
  blocked: number;
  unknown: number;
  pending: number;
  usage: { do_requests: number; queue_operations: number; db_round_trips: number };
}

interface Scenario {
  name: string;
  users: number;
  /** Bot-wide limits given to the Worker and enforced by the stand-in; 0 = none. */
  freeLimit: number;
  paidLimit: number;
  paid: boolean;
  pauseAfterMs?: number;
}

async function run(s: Scenario): Promise<void> {
  const unlimited = 1_000_000;
  const stack = await benchStack({
    onLog: process.env.BENCH_DEBUG ? (line) => console.log(line) : () => {},
    telegram: { latencyMs, rateLimit: s.freeLimit, paidRateLimit: s.paidLimit, perChatPerSecond: 0 },
    vars: { TELEGRAM_RATE_LIMIT: String(s.freeLimit || unlimited), TELEGRAM_PAID_RATE_LIMIT: String(s.paidLimit || unlimited) },
  });
  const telegram = stack.telegram;
  if (!telegram) throw new Error('the benchmark needs the Telegram stand-in (unset TELEGRAM_API_ROOT)');
  const db = new pg.Client({ connectionString: stack.databaseUrl });
  await db.connect();
  const call = adminApi(stack);
  const api = (path: string, body?: unknown) => call<CampaignJson>(path, body);
  try {
    const base = 8_000_000_000;
    await db.query(
      `insert into users (telegram_id, full_name, language_code)
       select $1::bigint + g, 'user ' || g, case when g % 2 = 0 then 'ru' else 'en' end from generate_series(1, $2::int) g`,
      [base, s.users],
    );
    const every = (n: number, offset: number) => Array.from({ length: Math.floor(s.users / n) }, (_, i) => base + 1 + i * n + offset);
    const blocked = every(100, 0);
    const missing = every(100, 1);
    telegram.configure({ blockedChats: blocked, missingChats: missing });
    telegram.reset();

    const rate = s.paid ? s.paidLimit || unlimited : s.freeLimit || unlimited;
    const created = await api('/campaigns', {
      title: s.name,
      messages: [
        { language_code: null, text: 'Hello from the benchmark' },
        { language_code: 'ru', text: 'Привет от бенчмарка' },
      ],
      paid_broadcast: s.paid,
      rate_per_second: rate,
    });
    await api(`/campaigns/${created.id}/start`, {});
    let pausedAt: number | undefined;
    let lastBeforeResume: number | undefined;
    if (s.pauseAfterMs !== undefined) {
      await new Promise((r) => setTimeout(r, s.pauseAfterMs));
      await api(`/campaigns/${created.id}/pause`, {});
      pausedAt = Date.now();
      await new Promise((r) => setTimeout(r, 2000));
      lastBeforeResume = Math.max(...telegram.deliveries.map((d) => d.at));
      await api(`/campaigns/${created.id}/resume`, {});
    }
    let campaign = created;
    const deadline = Date.now() + 30 * 60_000;
    while (campaign.status !== 'completed') {
      if (Date.now() > deadline) throw new Error(`not completed: ${JSON.stringify(campaign)}`);
      await new Promise((r) => setTimeout(r, 250));
      campaign = await api(`/campaigns/${created.id}`);
      if (process.env.BENCH_DEBUG) console.log(JSON.stringify({ ...campaign, deliveries: telegram.deliveries.length }));
    }

    const deliveries = telegram.deliveries.filter((d) => d.chat_id > base);
    const distinct = new Set(deliveries.map((d) => d.chat_id));
    const expected = s.users - blocked.length - missing.length;
    const times = deliveries.map((d) => d.at).sort((a, b) => a - b);
    const first = times[0] ?? 0;
    const sendingEnd = pausedAt ?? (times.at(-1) as number);
    const sentWhileSending = times.filter((t) => t <= sendingEnd).length;
    const achieved = (sentWhileSending - 1) / ((sendingEnd - first) / 1000);
    const per1000 = (n: number) => (n / s.users) * 1000;
    if (process.env.BENCH_GAPS) {
      const gaps = times.slice(1).map((t, i) => ({ at: t - first, gap: t - (times[i] as number) }));
      console.log('largest gaps (ms after first send, gap ms):', JSON.stringify(gaps.sort((a, b) => b.gap - a.gap).slice(0, 8)));
      const windows = new Map<number, number>();
      for (const t of times) windows.set(Math.floor((t - first) / 250), (windows.get(Math.floor((t - first) / 250)) ?? 0) + 1);
      console.log('sends per 250 ms:', JSON.stringify([...windows.values()]));
    }
    const { usage } = campaign;

    console.log(
      `\nbroadcast "${s.name}": ${s.users} users, ${latencyMs} ms Telegram latency, ${s.paid ? 'paid' : 'free'}, limit ${s.freeLimit || s.paidLimit ? `${rate}/s` : 'none'}`,
    );
    if (s.freeLimit || s.paidLimit) figure('achieved rate ÷ limit', round(achieved / rate, 3), '>= 0.97');
    figure('achieved messages/s', round(achieved));
    figure(
      'sends answered 429 (share of sends)',
      `${telegram.stats.rejected429} (${round((telegram.stats.rejected429 / Math.max(1, telegram.stats.sends)) * 100, 2)}%)`,
      '<= 0.1%',
    );
    figure('duplicates', deliveries.length - distinct.size, '0');
    figure('lost recipients', expected - distinct.size, '0');
    figure('counted sent / failed / blocked / unknown', `${campaign.sent}/${campaign.failed}/${campaign.blocked}/${campaign.unknown}`);
    if (pausedAt !== undefined && lastBeforeResume !== undefined)
      figure('last send after pause, ms', Math.max(0, lastBeforeResume - pausedAt), '<= 1000');
    const ops = usage.do_requests + usage.queue_operations + usage.db_round_trips;
    figure('platform operations per 1,000 recipients', round(per1000(ops)), '<= 100');
    figure(
      '  Durable Object requests / queue ops / DB round trips',
      `${round(per1000(usage.do_requests))} / ${round(per1000(usage.queue_operations))} / ${round(per1000(usage.db_round_trips))}`,
    );
    const cost = (usage.do_requests * PRICE.doRequest + usage.queue_operations * PRICE.queueOperation) * (1e6 / s.users);
    figure('  Queues + Durable Objects, $ per million recipients', round(cost, 4));
  } finally {
    await db.end();
    await stack.close();
  }
}

const scenarios: Scenario[] = [
  { name: 'free', users: Number(values.free), freeLimit: 30, paidLimit: 1000, paid: false },
  { name: 'paid', users: Number(values.paid), freeLimit: 30, paidLimit: 1000, paid: true },
  { name: 'ceiling', users: Number(values.ceiling), freeLimit: 0, paidLimit: 0, paid: true },
  { name: 'pause', users: Number(values.pause), freeLimit: 30, paidLimit: 1000, paid: true, pauseAfterMs: 3000 },
];
const only = new Set(values.only.split(','));
for (const s of scenarios) if (only.has(s.name)) await run(s);
