import { createExecutionContext, createScheduledController, runInDurableObject, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { INCIDENT_QUIET_MS, incidents } from '../../durable-objects/incidents/incidents.do';
import { createApp } from '../app';
import { ConfigError, getConfig } from '../core/config';
import { createLogger } from '../core/logger';
import worker from '../index';
import { taskRegistry } from '../registry';
import { poll } from '../testing/poll';
import { configureTelegram, deliveries } from '../testing/telegram';
import { incidentKey, notifyAdmins, raiseIncident } from './incidents';

const admins = [900001, 900002];

/** Alerts each admin got that mention `tag`. */
async function alertsAbout(tag: string): Promise<number[]> {
  return Promise.all(admins.map(async (id) => (await deliveries(id)).filter((d) => d.text?.includes(tag)).length));
}

describe('critical failures reach the admins once per incident', () => {
  it('an unhandled error is a bare 500, and the admins hear of it once however often it repeats', async () => {
    const tag = `exploded-${crypto.randomUUID().slice(0, 8)}`;
    const app = createApp({ registry: taskRegistry });
    // A route that fails as a bug would: the app's own error middleware handles it.
    app.get('/boom/:kind/:ms', (c) => {
      throw new Error(`${tag}: ${c.req.param('kind')} after ${c.req.param('ms')} ms`);
    });
    const hit = async (kind: string, ms: number) => {
      const ctx = createExecutionContext();
      const res = await app.fetch(new Request(`https://flarecast.test/boom/${kind}/${ms}`), env, ctx);
      await waitOnExecutionContext(ctx);
      return res;
    };

    const first = await hit('db', 4012);
    expect(first.status).toBe(500);
    const body = await first.text();
    expect(body).toContain('internal error');
    expect(body).not.toContain(tag);
    for (const ms of [4007, 3999, 4100]) expect((await hit('db', ms)).status).toBe(500);
    await poll(async () => ((await alertsAbout(tag)).every((n) => n >= 1) ? true : undefined), { what: 'the incident alert' });

    // Another failure is another incident.
    await hit('queue', 1);
    await poll(async () => ((await alertsAbout(`${tag}: queue`)).every((n) => n === 1) ? true : undefined), { what: 'the second alert' });
    expect(await alertsAbout(`${tag}: db`)).toEqual([1, 1]);
    const [alert] = (await deliveries(admins[0])).filter((d) => d.text?.includes(`${tag}: db`));
    expect(alert?.text).toContain('CRITICAL: unhandled failure in GET /boom/:kind/:ms');
    expect(alert?.text).toMatch(/Correlation id: [0-9a-f-]{36}/);
  });

  it('a failing cron run is reported and still fails, so the failure stays visible', async () => {
    const broken = { ...env, DATABASE_URL: 'not a url' } as Env;
    let failure: unknown;
    try {
      getConfig(broken);
    } catch (err) {
      failure = err;
    }
    expect(failure).toBeInstanceOf(ConfigError);
    await expect(worker.scheduled(createScheduledController({ cron: '*/2 * * * *' }), broken)).rejects.toThrow(ConfigError);
    // Misconfigured: there may be no bot to alert with, but the ledger opened the incident.
    const again = await incidents(env).report(incidentKey('cron */2 * * * *', failure));
    expect(again.alert).toBe(false);
    expect(again.occurrences).toBeGreaterThanOrEqual(2);
  });

  it('an incident ends after an hour of quiet; the next occurrence alerts again', async () => {
    const key = `test|Error|${crypto.randomUUID()}`;
    const ledger = incidents(env);
    const t0 = Date.now();
    const critical = { escalated: false, severity: 'critical' };
    expect(await ledger.report(key, t0)).toEqual({ alert: true, occurrences: 1, ...critical });
    expect(await ledger.report(key, t0 + 1000)).toEqual({ alert: false, occurrences: 2, ...critical });
    expect(await ledger.report(key, t0 + 1000 + INCIDENT_QUIET_MS)).toEqual({ alert: false, occurrences: 3, ...critical });
    expect(await ledger.report(key, t0 + 1001 + 2 * INCIDENT_QUIET_MS + 1)).toEqual({ alert: true, occurrences: 1, ...critical });
  });

  it('alerts a WARNING once, its escalation to CRITICAL once, and its resolution once', async () => {
    const key = `outage:test-${crypto.randomUUID()}`;
    const ledger = incidents(env);
    const t0 = Date.now();
    expect(await ledger.report(key, t0, 'warning')).toEqual({ alert: true, escalated: false, occurrences: 1, severity: 'warning' });
    expect(await ledger.report(key, t0 + 1, 'warning')).toEqual({ alert: false, escalated: false, occurrences: 2, severity: 'warning' });
    expect(await ledger.report(key, t0 + 2, 'critical')).toEqual({ alert: true, escalated: true, occurrences: 3, severity: 'critical' });
    // A WARNING after that changes nothing: the incident stays CRITICAL.
    expect(await ledger.report(key, t0 + 3, 'warning')).toEqual({ alert: false, escalated: false, occurrences: 4, severity: 'critical' });
    // Not quiet for 10 minutes yet: not resolved.
    expect(await ledger.resolve(key, t0 + 4, 600_000)).toBeNull();
    expect(await ledger.resolve(key, t0 + 600_003, 600_000)).toMatchObject({
      key,
      occurrences: 4,
      severity: 'critical',
      resolvedAt: t0 + 600_003,
    });
    expect(await ledger.resolve(key, t0 + 600_004)).toBeNull();
    // The next occurrence is a new incident.
    expect(await ledger.report(key, t0 + 600_005, 'warning')).toEqual({
      alert: true,
      escalated: false,
      occurrences: 1,
      severity: 'warning',
    });
  });

  it('numbers and ids do not split an incident', () => {
    const a = incidentKey('GET /api/tasks/0b0e9a3c-4f6e-4b7e-9d1e-0c7f2d1e5a11', new Error('timeout after 4012 ms'));
    const b = incidentKey('GET /api/tasks/5a5e9a3c-4f6e-4b7e-9d1e-0c7f2d1e5a22', new Error('timeout after 3999 ms'));
    expect(a).toBe(b);
    expect(incidentKey('GET /x', new TypeError('timeout after 1 ms'))).not.toBe(incidentKey('GET /x', new Error('timeout after 1 ms')));
  });
});

describe('alerts are delivered, none lost', () => {
  it('a burst of 10 distinct incidents in one second reaches every admin, all 10 named', async () => {
    const tag = `burst-${crypto.randomUUID().slice(0, 8)}`;
    const config = getConfig(env);
    const log = createLogger('test');
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        raiseIncident({ env, config }, log, {
          key: `${tag}:${i}`,
          severity: 'critical',
          title: `${tag} #${i}`,
        }),
      ),
    );
    const named = async (admin: number) =>
      new Set((await deliveries(admin)).flatMap((d) => [...(d.text ?? '').matchAll(new RegExp(`${tag} #(\\d)`, 'g'))].map((m) => m[1])));
    for (const admin of admins)
      expect((await poll(async () => ((await named(admin)).size === 10 ? named(admin) : undefined), { what: 'all 10 alerts' })).size).toBe(
        10,
      );
    // Digests: fewer messages than alerts, each within Telegram's 4,096 characters.
    const messages = (await deliveries(admins[0])).filter((d) => d.text?.includes(tag));
    expect(messages.length).toBeLessThanOrEqual(10);
    for (const m of messages) expect(m.text?.length).toBeLessThanOrEqual(4096);
    // The object deletes a message once Telegram's answer is back, a moment after the stand-in saw it.
    expect(await poll(async () => ((await incidents(env).outboxPending()) === 0 ? 0 : undefined), { what: 'an empty outbox' })).toBe(0);
  });

  it('a text over one message (a weekly report of many nodes) arrives in several, cut between lines, nothing lost', async () => {
    const tag = `long-${crypto.randomUUID().slice(0, 8)}`;
    const admin = admins[1] as number;
    const lines = [`<b>${tag}</b>`, ...Array.from({ length: 300 }, (_, i) => `• node-${i}.example.com: <b>99.${i % 10}%</b>`)];
    await notifyAdmins(env, { ADMIN_TELEGRAM_IDS: [admin] }, lines.join('\n'), createLogger('test'));
    const got = await poll(
      async () => {
        const ours = (await deliveries(admin)).filter((d) => d.text?.includes('node-') || d.text?.includes(tag));
        const text = ours.map((d) => d.text).join('\n');
        return text.includes('node-299.example.com') ? ours : undefined;
      },
      { what: 'every part' },
    );
    expect(got.length).toBeGreaterThan(1);
    expect(got.every((d) => (d.text?.length ?? 0) <= 4096)).toBe(true);
    // One chat, about one message a second (Telegram's per-chat limit; a 429 there holds the whole bot).
    for (let i = 1; i < got.length; i++) expect((got[i]?.at ?? 0) - (got[i - 1]?.at ?? 0)).toBeGreaterThanOrEqual(950);
    expect(got.map((d) => d.text).join('\n')).toBe(lines.join('\n').replaceAll(/<\/?b>/g, ''));
  });

  it('a digest Telegram refuses for one bad message is split: the others still arrive, each once', async () => {
    const tag = `digest-${crypto.randomUUID().slice(0, 8)}`;
    const admin = admins[0] as number;
    // Two messages due for one admin make one digest; one has markup Telegram cannot parse.
    await runInDurableObject(incidents(env), async (instance, state) => {
      const now = Date.now();
      for (const text of [`<b>${tag} good</b>`, `<b>${tag} broken`])
        state.storage.sql.exec('insert into outbox (chat_id, text, created_at, next_at) values (?, ?, ?, ?)', admin, text, now, now);
      await instance.alarm();
    });
    const good = await poll(
      async () => {
        const ours = (await deliveries(admin)).filter((d) => d.text?.includes(tag));
        return ours.length ? ours : undefined;
      },
      { what: 'the good message, alone' },
    );
    expect(good.map((d) => d.text)).toEqual([`${tag} good`]);
    expect(await poll(async () => ((await incidents(env).outboxPending()) === 0 ? 0 : undefined), { what: 'an empty outbox' })).toBe(0);
  });

  it('an alert Telegram answers 429 is delivered once the wait is over, and counted sent only then', async () => {
    const tag = `flooded-${crypto.randomUUID().slice(0, 8)}`;
    await configureTelegram({ failNext: { status: 429, count: 1, retryAfter: 1 } });
    await notifyAdmins(env, { ADMIN_TELEGRAM_IDS: [admins[0] as number] }, `${tag} after the flood`, createLogger('test'));
    await poll(async () => ((await deliveries(admins[0])).some((d) => d.text?.includes(tag)) ? true : undefined), {
      what: 'the alert after the 429',
    });
    expect((await deliveries(admins[0])).filter((d) => d.text?.includes(tag))).toHaveLength(1);
    // The object deletes a message once Telegram's answer is back, a moment after the stand-in saw it.
    expect(await poll(async () => ((await incidents(env).outboxPending()) === 0 ? 0 : undefined), { what: 'an empty outbox' })).toBe(0);
  });
});
