/**
 * The broadcast engine against the strict Telegram stand-in: 40 ms ± 15 ms per call (the jitter moves
 * arrivals before they are counted), a sliding second counted at arrival, 429 with `retry_after` and a
 * flood wait that every request arriving during it lengthens by 100 ms, and production's cap of 6
 * connections waiting per Worker invocation. Audiences have 1 % blocked and 1 % missing chats.
 *
 * Scenarios: `free` 900 users at 30/s; `paid` 20,000 at 1,000/s paid; `flood` 30,000 at 1,000/s paid
 * with a forced 5 s flood wait 3 s in; `pause` 8,000 at 1,000/s paused 3 s in and resumed 2 s later;
 * `fail502` 600 at 100/s paid where Telegram delivers every 33rd message and answers 502;
 * `notify` notifications posted once a second during a 900-user broadcast at 30/s; `ceiling` 20,000
 * and `ceiling-large` 200,000 with no Telegram limit (the engine's own ceiling, ledger rows per recipient).
 *
 * Prints achieved ÷ limit (sends Telegram counted, per second from the first to the last), the busiest
 * sliding second, 429s, sends arriving during a flood wait (and of those, sent after a 429 had come
 * back), duplicates, lost, the counters, platform operations and SQLite rows per recipient.
 *
 *   npm run bench:broadcast -- [--only free,paid,flood,pause,fail502,notify,ceiling,ceiling-large] [--scale 1] [--pace 0.96] [--paid-pace 0.97]
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { adminApi, benchStack, figure, quantile, remoteTelegram, round } from './lib.ts';

const { values } = parseArgs({
  options: {
    only: { type: 'string', default: 'free,paid,flood,pause,fail502,notify,ceiling,ceiling-large' },
    latency: { type: 'string', default: '40' },
    jitter: { type: 'string', default: '15' },
    /** Multiplies every audience (a quick run: --scale 0.1). */
    scale: { type: 'string', default: '1' },
    /** The gate's pace of the ordinary limit (`TELEGRAM_PACE`) instead of the Worker's default, to weigh another margin. */
    pace: { type: 'string' },
    /** The same for the paid limit (`TELEGRAM_PAID_PACE`). */
    'paid-pace': { type: 'string' },
  },
});
const latencyMs = Number(values.latency);
const jitterMs = Number(values.jitter);
const scale = Number(values.scale);
/** Prices from ../shared/PLATFORM.md, dollars per operation. */
const PRICE = { queueOperation: 0.4 / 1e6, doRequest: 0.15 / 1e6 };
const UNLIMITED = 1_000_000;

/** The part of the campaign JSON (`GET /api/campaigns/{id}`) the benchmark reads. */
interface CampaignJson {
  id: string;
  status: string;
  sent: number;
  failed: number;
  blocked: number;
  unknown: number;
  usage: { do_requests: number; queue_operations: number; db_round_trips: number; sqlite_rows_read: number; sqlite_rows_written: number };
}

interface Scenario {
  name: string;
  users: number;
  /** Bot-wide limits given to the Worker and enforced by the stand-in; 0 = none. */
  freeLimit: number;
  paidLimit: number;
  paid: boolean;
  /** The campaign's own rate; default the limit of its kind. */
  rate?: number;
  pauseAfterMs?: number;
  floodAfterMs?: number;
  /** Telegram delivers every Nth message and answers 502. */
  fail502Every?: number;
  /** Post a notification every second while the campaign runs. */
  notify?: boolean;
}

type Telegram = Awaited<ReturnType<typeof remoteTelegram>>;
type Api = (path: string, body?: unknown) => Promise<CampaignJson>;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Telegram chat ids of the benchmark's users start above this. */
const BASE = 8_000_000_000;

/** What a run saw: the campaign at its end, the stand-in's record, and the disturbances made. */
interface Observed {
  campaign: CampaignJson;
  deliveries: Awaited<ReturnType<Telegram['deliveries']>>;
  counted: number[];
  stats: Awaited<ReturnType<Telegram['stats']>>;
  expected: number;
  pausedAt?: number;
  lastBeforeResume?: number;
  flood?: { from: number; until: number };
  notified: Map<number, number>;
}

async function run(s: Scenario): Promise<void> {
  const telegram = await remoteTelegram([
    ...['--latency', String(latencyMs), '--jitter', String(jitterMs)],
    ...['--rate', String(s.freeLimit), '--paid-rate', String(s.paidLimit), '--per-chat', '0'],
  ]);
  const stack = await benchStack({
    onLog: process.env.BENCH_DEBUG ? (line) => console.log(line) : () => {},
    vars: {
      TELEGRAM_API_ROOT: telegram.url,
      TELEGRAM_RATE_LIMIT: String(s.freeLimit || UNLIMITED),
      TELEGRAM_PAID_RATE_LIMIT: String(s.paidLimit || UNLIMITED),
      ...(values.pace ? { TELEGRAM_PACE: values.pace } : {}),
      ...(values['paid-pace'] ? { TELEGRAM_PAID_PACE: values['paid-pace'] } : {}),
    },
  });
  const db = new pg.Client({ connectionString: stack.databaseUrl });
  await db.connect();
  const call = adminApi(stack);
  try {
    const expected = await seed(s, db, telegram);
    const observed = await drive(s, telegram, (path, body) => call<CampaignJson>(path, body), call);
    report(s, { ...observed, expected });
  } finally {
    await db.end();
    await stack.close();
    await telegram.close();
  }
}

/** Inserts the audience (half ru, half en; 1 % blocked and 1 % missing chats); returns how many can receive. */
async function seed(s: Scenario, db: pg.Client, telegram: Telegram): Promise<number> {
  await db.query(
    `insert into users (telegram_id, full_name, language_code)
     select $1::bigint + g, 'user ' || g, case when g % 2 = 0 then 'ru' else 'en' end from generate_series(1, $2::int) g`,
    [BASE, s.users],
  );
  const every = (n: number, offset: number) => Array.from({ length: Math.floor(s.users / n) }, (_, i) => BASE + 1 + i * n + offset);
  const blocked = every(100, 0);
  const missing = every(100, 1);
  await telegram.configure({ blockedChats: blocked, missingChats: missing });
  await telegram.reset();
  if (s.fail502Every) await telegram.configure({ failEvery: { status: 502, every: s.fail502Every, delivered: true } });
  return s.users - blocked.length - missing.length;
}

/** Creates and starts the campaign, disturbs it as the scenario says, and waits for it to complete. */
async function drive(s: Scenario, telegram: Telegram, api: Api, call: ReturnType<typeof adminApi>): Promise<Omit<Observed, 'expected'>> {
  const created = await api('/campaigns', {
    title: s.name,
    messages: [
      { language_code: null, text: 'Hello from the benchmark' },
      { language_code: 'ru', text: 'Привет от бенчмарка' },
    ],
    paid_broadcast: s.paid,
    rate_per_second: rateOf(s),
  });
  const startedAt = Date.now();
  await api(`/campaigns/${created.id}/start`, {});
  const notified = new Map<number, number>();
  const notifying = s.notify
    ? (async () => {
        for (let i = 1; Date.now() - startedAt < 25_000; i++) {
          notified.set(BASE - i, Date.now());
          await call('/notifications', { telegram_id: BASE - i, text: `notification ${i}`, type: 'bench' });
          await sleep(1000);
        }
      })()
    : undefined;
  const disturbed = await disturb(s, telegram, api, created.id);
  const { flood } = disturbed;
  let campaign = created;
  const deadline = Date.now() + 30 * 60_000;
  while (campaign.status !== 'completed') {
    if (Date.now() > deadline) throw new Error(`not completed: ${JSON.stringify(campaign)}`);
    await sleep(flood ? 100 : 1000);
    // Requests arriving during the wait lengthen it: keep its last known end.
    const wait = flood ? await telegram.floodWait() : null;
    if (flood && wait) flood.until = Math.max(flood.until, wait.until);
    campaign = await api(`/campaigns/${created.id}`);
    if (process.env.BENCH_DEBUG) console.log(JSON.stringify(campaign));
  }
  await notifying;
  const counted = (await telegram.arrivals()).filter((a) => a.counted).map((a) => a.at);
  counted.sort((a, b) => a - b);
  return { campaign, deliveries: await telegram.deliveries(), counted, stats: await telegram.stats(), notified, ...disturbed };
}

/** Pauses and resumes, or forces a flood wait, when the scenario asks for it. */
async function disturb(
  s: Scenario,
  telegram: Telegram,
  api: Api,
  id: string,
): Promise<Pick<Observed, 'pausedAt' | 'lastBeforeResume' | 'flood'>> {
  if (s.pauseAfterMs !== undefined) {
    await sleep(s.pauseAfterMs);
    await api(`/campaigns/${id}/pause`, {});
    const pausedAt = Date.now();
    await sleep(2000);
    const lastBeforeResume = Math.max(...(await telegram.arrivals()).map((a) => a.at));
    await api(`/campaigns/${id}/resume`, {});
    return { pausedAt, lastBeforeResume };
  }
  if (s.floodAfterMs !== undefined) {
    await sleep(s.floodAfterMs);
    const wait = await telegram.forceFlood(5);
    return { flood: { from: wait.start, until: wait.until } };
  }
  return {};
}

const limitOf = (s: Scenario) => (s.paid ? s.paidLimit || UNLIMITED : s.freeLimit || UNLIMITED);
const rateOf = (s: Scenario) => s.rate ?? limitOf(s);

/** Prints the run's figures, each with its target where it has one. */
function report(s: Scenario, o: Observed): void {
  const { campaign, counted, stats, flood } = o;
  const limit = limitOf(s);
  const rate = rateOf(s);
  const mine = o.deliveries.filter((d) => d.chat_id > BASE);
  const distinct = new Set(mine.map((d) => d.chat_id));
  const first = counted[0] ?? 0;
  const sendingEnd = o.pausedAt ?? (counted.at(-1) as number);
  const within = counted.filter((t) => t <= sendingEnd);
  // While paused or in a flood wait nothing may be sent: those stretches are not the engine's pace.
  const idle = flood ? flood.until - flood.from : 0;
  const achieved = (within.length - 1) / ((sendingEnd - first - idle) / 1000);
  if (process.env.BENCH_GAPS) printGaps(counted);
  console.log(
    `\nbroadcast "${s.name}": ${s.users} users, ${latencyMs} ± ${jitterMs} ms Telegram latency, ${s.paid ? 'paid' : 'free'}, limit ${s.freeLimit || s.paidLimit ? `${limit}/s` : 'none'}, campaign rate ${rate === UNLIMITED ? 'unlimited' : `${rate}/s`}${values.pace ? `, gate pace ${values.pace}` : ''}${values['paid-pace'] ? `, paid pace ${values['paid-pace']}` : ''}`,
  );
  if (s.freeLimit || s.paidLimit)
    figure('achieved rate ÷ limit', round(achieved / limit, 3), s.pauseAfterMs || s.floodAfterMs || s.rate ? undefined : '>= 0.95');
  figure('achieved messages/s', round(achieved));
  // Telegram turns away what would exceed its limit, so this never passes it: it shows the headroom left.
  figure('busiest second at Telegram (sends counted in a sliding 1 s)', busiestSecond(counted));
  figure(
    'sends answered 429 (share of sends)',
    `${stats.rejected429} (${round((stats.rejected429 / Math.max(1, counted.length)) * 100, 2)}%)`,
    // A forced flood wait answers 429 to whatever is on the wire when it starts: what counts there is
    // that nothing leaves after the first 429 has come back.
    flood ? undefined : '<= 0.1%',
  );
  figure('sends arriving during a flood wait', stats.arrivedDuringFlood, flood ? undefined : '0');
  figure(
    '  of those, sent after a 429 had come back',
    stats.sentAfterFloodAnswered
      ? `${stats.sentAfterFloodAnswered} (the latest ${round(stats.sentAfterFloodAnsweredMaxMs, 1)} ms after it)`
      : 0,
    '0',
  );
  figure('duplicates', mine.length - distinct.size, '0');
  figure('lost recipients', o.expected - distinct.size, '0');
  figure('counted sent / failed / blocked / unknown', `${campaign.sent}/${campaign.failed}/${campaign.blocked}/${campaign.unknown}`);
  if (s.fail502Every) figure('delivered then answered 502 (counted unknown)', `${stats.failedAfterDelivery} (${campaign.unknown})`);
  figure('most connections of one invocation at once', stats.maxInFlightPerInvocation, '<= 6');
  if (o.pausedAt !== undefined && o.lastBeforeResume !== undefined)
    figure('last send arriving after the pause, ms', Math.max(0, round(o.lastBeforeResume - o.pausedAt)), '<= 1000');
  if (flood) {
    const after = counted.filter((t) => t >= flood.until);
    figure('forced flood wait, ms (5,000 + 100 per arrival)', flood.until - flood.from);
    figure('first send after the wait, ms after it ended', round((after[0] ?? Number.NaN) - flood.until), '<= 3000');
    const reached = secondsUntilRate(after, flood.until, 0.9 * limit);
    figure('seconds until a second at >= 0.9 × limit', reached === undefined ? 'never' : round(reached, 1), '<= 30');
  }
  if (o.notified.size) {
    const latencies = o.deliveries.filter((d) => o.notified.has(d.chat_id)).map((d) => d.at - (o.notified.get(d.chat_id) as number));
    figure('notifications sent / posted', `${latencies.length}/${o.notified.size}`);
    figure('  insert → Telegram p50, ms', round(quantile(latencies, 0.5)));
    figure('  insert → Telegram p95, ms', round(quantile(latencies, 0.95)), '<= 2000');
  }
  costFigures(s, campaign);
}

/** Platform operations, SQLite rows and dollars per recipient. */
function costFigures(s: Scenario, campaign: CampaignJson): void {
  const u = campaign.usage;
  const per1000 = (n: number) => round((n / s.users) * 1000);
  figure('platform operations per 1,000 recipients', per1000(u.do_requests + u.queue_operations + u.db_round_trips));
  figure(
    '  DO requests / queue ops / DB round trips',
    `${per1000(u.do_requests)} / ${per1000(u.queue_operations)} / ${per1000(u.db_round_trips)}`,
  );
  figure(
    'SQLite rows read / written per recipient',
    `${round(u.sqlite_rows_read / s.users, 2)} / ${round(u.sqlite_rows_written / s.users, 2)}`,
  );
  const cost = (u.do_requests * PRICE.doRequest + u.queue_operations * PRICE.queueOperation) * (1e6 / s.users);
  figure('  Queues + Durable Objects, $ per million recipients', round(cost, 3));
}

/** The largest gaps between sends and the sends of each second (BENCH_GAPS=1). */
function printGaps(counted: number[]): void {
  const first = counted[0] ?? 0;
  const gaps = counted.slice(1).map((t, i) => ({ at: t - first, gap: round(t - (counted[i] as number)) }));
  console.log('largest gaps (ms after the first send, gap ms):', JSON.stringify(gaps.sort((a, b) => b.gap - a.gap).slice(0, 8)));
  const perSecond = new Map<number, number>();
  for (const t of counted) perSecond.set(Math.floor((t - first) / 1000), (perSecond.get(Math.floor((t - first) / 1000)) ?? 0) + 1);
  console.log('sends per second:', JSON.stringify([...perSecond.values()]));
  const end = counted.at(-1) ?? 0;
  const tail = Array.from({ length: 20 }, (_, i) => counted.filter((t) => t > end - 2000 + i * 100 && t <= end - 1900 + i * 100).length);
  console.log('sends of the last 2 s, per 100 ms:', JSON.stringify(tail));
}

/** The most arrivals in any sliding second (what Telegram's limit is counted over). */
function busiestSecond(times: number[]): number {
  let busiest = 0;
  for (let i = 0, j = 0; j < times.length; j++) {
    while ((times[j] as number) - (times[i] as number) >= 1000) i++;
    busiest = Math.max(busiest, j - i + 1);
  }
  return busiest;
}

/** Seconds from `from` until a sliding second of `times` holds at least `count` sends, or undefined. */
function secondsUntilRate(times: number[], from: number, count: number): number | undefined {
  for (let i = 0; i + count - 1 < times.length; i++) {
    if ((times[i + Math.ceil(count) - 1] as number) - (times[i] as number) <= 1000) return ((times[i] as number) + 1000 - from) / 1000;
  }
  return undefined;
}

const n = (users: number) => Math.max(100, Math.round(users * scale));
const scenarios: Scenario[] = [
  { name: 'free', users: n(900), freeLimit: 30, paidLimit: 1000, paid: false },
  { name: 'paid', users: n(20_000), freeLimit: 30, paidLimit: 1000, paid: true },
  { name: 'flood', users: n(30_000), freeLimit: 30, paidLimit: 1000, paid: true, floodAfterMs: 3000 },
  { name: 'pause', users: n(8000), freeLimit: 30, paidLimit: 1000, paid: true, pauseAfterMs: 3000 },
  { name: 'fail502', users: n(600), freeLimit: 30, paidLimit: 1000, paid: true, rate: 100, fail502Every: 33 },
  { name: 'notify', users: n(900), freeLimit: 30, paidLimit: 1000, paid: false, notify: true },
  { name: 'ceiling', users: n(20_000), freeLimit: 0, paidLimit: 0, paid: true },
  { name: 'ceiling-large', users: n(200_000), freeLimit: 0, paidLimit: 0, paid: true },
];
const only = new Set(values.only.split(','));
for (const s of scenarios) if (only.has(s.name)) await run(s);
