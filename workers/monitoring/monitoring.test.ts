import { env } from 'cloudflare:workers';
import { eq, sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { dashboard } from '../../durable-objects/dashboard/dashboard.do';
import { incidents } from '../../durable-objects/incidents/incidents.do';
import { getConfig } from '../core/config';
import { createDb } from '../core/db';
import { admin } from '../testing/admin-chat';
import { withTestDb } from '../testing/db';
import { callApi, json } from '../testing/http';
import { panelObject, postPanelEvent } from '../testing/panel';
import { poll } from '../testing/poll';
import { kickOverHttp, runWithStatus } from '../testing/runs';
import { taskContext } from '../testing/task-context';
import { deliveries } from '../testing/telegram';
import { nodeHealthHistoryTable, nodeHealthTable, serviceHealthTable } from './monitoring.schema';
import { checkNodeHealthTask, checkServicesTask } from './monitoring.tasks';
import { classify } from './nodes';

const panel = env.REMNAWAVE_URL;

async function setNode(uuid: string, name: string, flags: { isConnected: boolean; isConnecting?: boolean; isDisabled?: boolean }) {
  const res = await fetch(`${panel}/__control/nodes`, {
    method: 'POST',
    body: JSON.stringify({ uuid, name, isConnecting: false, isDisabled: false, ...flags }),
  });
  expect(res.ok).toBe(true);
}

const check = async () => (await runWithStatus(await kickOverHttp('check_node_health'), 'succeeded')).result as Record<string, unknown>;
/** Alerts to the first admin after `from` that mention `name`. */
const alertsAbout = async (name: string, from: number) =>
  (await deliveries(admin))
    .slice(from)
    .filter((d) => d.text?.includes(name))
    .map((d) => d.text);
const adminCount = async () => (await deliveries(admin)).length;

describe('node health', () => {
  it('classifies the panel flags', () => {
    expect(classify({ isConnected: true, isConnecting: false, isDisabled: false })).toBe('online');
    expect(classify({ isConnected: false, isConnecting: true, isDisabled: false })).toBe('warning');
    expect(classify({ isConnected: false, isConnecting: false, isDisabled: false })).toBe('offline');
    expect(classify({ isConnected: true, isConnecting: false, isDisabled: true })).toBe('maintenance');
  });

  it('alerts once when a node goes offline, "resolved" when it is back, and keeps the history', async () => {
    const uuid = crypto.randomUUID();
    const name = `node-${uuid.slice(0, 6)}`;
    const from = await adminCount();
    await setNode(uuid, name, { isConnected: true });
    await check();
    await setNode(uuid, name, { isConnected: false });
    await check();
    await check();
    await poll(async () => ((await alertsAbout(name, from)).length === 1 ? true : undefined), { what: 'the offline alert' });
    await setNode(uuid, name, { isConnected: true });
    await check();
    const alerts = await poll(
      async () => {
        const a = await alertsAbout(name, from);
        return a.length === 2 ? a : undefined;
      },
      { what: 'the resolved alert' },
    );
    expect(alerts[0]).toContain('is offline');
    expect(alerts[1]).toContain('Resolved');
    const history = await withTestDb((db) => db.select().from(nodeHealthHistoryTable).where(eq(nodeHealthHistoryTable.nodeUuid, uuid)));
    expect(history.map((h) => [h.fromStatus, h.toStatus])).toEqual([
      [null, 'online'],
      ['online', 'offline'],
      ['offline', 'online'],
    ]);
  });

  it('pushes a status change to the dashboard at once, and the console follows it live', async () => {
    const uuid = crypto.randomUUID();
    const name = `push-${uuid.slice(0, 8)}`;
    await setNode(uuid, name, { isConnected: true });
    await check();
    // The snapshot as the last refresh left it; from here on only the push can change it.
    const object = dashboard(env);
    const before = await object.refresh();
    await setNode(uuid, name, { isConnected: false });
    await check();
    const snap = await json<{ at: string; last_events: { node: string; from: string; to: string }[]; last_event: string }>(
      await callApi('/dashboard'),
    );
    expect(snap.at).toBe(before.at);
    expect(snap.last_events[0]).toMatchObject({ node: name, from: 'online', to: 'offline' });
    expect(snap.last_event).toMatch(new RegExp(`^\\d\\d:\\d\\d:\\d\\d ${name}: online → offline$`));
    // The live stream the console's operations page follows carries it in its first event.
    const res = await callApi('/dashboard/events');
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const { value } = await reader.read();
    await reader.cancel();
    const first = new TextDecoder().decode(value);
    expect(first).toContain('event: progress');
    expect(JSON.parse(/data: (.*)/.exec(first)?.[1] ?? '{}').last_event).toBe(snap.last_event);
    await setNode(uuid, name, { isConnected: true });
    await check();
  });

  it('treats connecting as a warning, and escalates only an outage longer than 5 minutes, once', async () => {
    const uuid = crypto.randomUUID();
    const name = `node-${uuid.slice(0, 6)}`;
    const from = await adminCount();
    await setNode(uuid, name, { isConnected: false, isConnecting: true });
    await check();
    const [warning] = await poll(async () => {
      const a = await alertsAbout(name, from);
      return a.length ? a : undefined;
    });
    expect(warning).toContain('connecting (warning)');
    expect(warning).not.toContain('CRITICAL');
    await setNode(uuid, name, { isConnected: false, isConnecting: false });
    await check();
    // Offline for six minutes already.
    await withTestDb((db) =>
      db.update(nodeHealthTable).set({ since: sql`now() - interval '6 minutes'` }).where(eq(nodeHealthTable.nodeUuid, uuid)),
    );
    await check();
    await check();
    const alerts = await poll(
      async () => {
        const a = await alertsAbout(name, from);
        return a.length === 3 ? a : undefined;
      },
      { what: 'the CRITICAL alert' },
    );
    expect(alerts[2]).toContain('CRITICAL');
    expect(alerts.filter((a) => a?.includes('CRITICAL'))).toHaveLength(1);
  });

  it('logs the statuses and goes on when its store is unavailable', async () => {
    const config = getConfig(env);
    const result = await checkNodeHealthTask.handler(
      taskContext(
        'check_node_health',
        {},
        {
          db: createDb({ ...config, DATABASE_URL: 'postgres://flarecast:x@127.0.0.1:9/none', DATABASE_PROXY: '127.0.0.1:9' }),
        },
      ),
    );
    expect(result).toMatchObject({ stored: false, alerts: 0 });
    expect(result.nodes).toBeGreaterThan(0);
  });

  it("follows the panel's node.connection_lost and node.connection_restored webhooks", async () => {
    const uuid = crypto.randomUUID();
    const name = `node-${uuid.slice(0, 6)}`;
    await setNode(uuid, name, { isConnected: true });
    await check();
    const from = await adminCount();
    const response = await panelObject(`/api/nodes/${uuid}`);
    const post = (event: string) =>
      postPanelEvent(JSON.stringify({ scope: 'node', event, timestamp: new Date().toISOString(), data: response }));
    expect(await (await post('node.connection_lost')).json()).toEqual({ ok: true, status: 'offline', alerted: true });
    expect(await (await post('node.connection_lost')).json()).toEqual({ ok: true, status: 'offline', alerted: false });
    expect(await (await post('node.connection_restored')).json()).toEqual({ ok: true, status: 'online', alerted: true });
    const alerts = await poll(async () => {
      const a = await alertsAbout(name, from);
      return a.length === 2 ? a : undefined;
    });
    expect(alerts[1]).toContain('Resolved');
  });
});

describe('service checks', () => {
  it('reports every service up, and says "resolved" once when one that was down answers again', async () => {
    await withTestDb((db) =>
      db
        .insert(serviceHealthTable)
        .values({ service: 'postgres', failures: 4, down: true })
        .onConflictDoUpdate({ target: serviceHealthTable.service, set: { failures: 4, down: true } }),
    );
    // The outage those four failures opened in the incident ledger.
    expect(await incidents(env).report('outage:postgres', Date.now(), 'critical')).toMatchObject({ alert: true });
    const from = await adminCount();
    const run = await runWithStatus(await kickOverHttp('check_services'), 'succeeded');
    expect(run.result).toEqual({ postgres: 'up', telegram: 'up', remnawave: 'up', cryptobot: 'up' });
    const resolved = await poll(async () => {
      const texts = await alertsAbout('postgres', from);
      return texts.length ? texts : undefined;
    });
    expect(resolved).toEqual([expect.stringMatching(/^✅ Resolved: postgres answers again after 1 min \(1 failure\(s\) counted\)$/)]);
    // The next pass finds nothing to resolve.
    await runWithStatus(await kickOverHttp('check_services'), 'succeeded');
    expect(await alertsAbout('postgres', from)).toHaveLength(1);
    const [row] = await withTestDb((db) => db.select().from(serviceHealthTable).where(eq(serviceHealthTable.service, 'postgres')));
    expect(row).toMatchObject({ failures: 0, down: false });
  });

  it('reports a service that is not configured as off, never as up or failing', async () => {
    const config = { ...getConfig(env), REMNAWAVE_URL: '', CRYPTOBOT_TOKEN: '' };
    const result = await checkServicesTask.handler(taskContext('check_services', {}, { config }));
    expect(result).toEqual({ postgres: 'up', telegram: 'up', remnawave: 'off', cryptobot: 'off' });
  });

  // Last: the outage opens this isolate's breaker for the panel.
  it('alerts once, CRITICAL, on the third failure in a row', async () => {
    await fetch(`${panel}/__control/config`, { method: 'POST', body: JSON.stringify({ down: true }) });
    try {
      const from = await adminCount();
      for (let i = 1; i <= 4; i++) {
        const run = await runWithStatus(await kickOverHttp('check_services'), 'succeeded', 20_000);
        expect((run.result as Record<string, string>).remnawave).toBe(i < 3 ? 'failing' : 'down');
      }
      const alerts = await poll(async () => {
        const a = await alertsAbout('remnawave', from);
        return a.length ? a : undefined;
      });
      expect(alerts).toHaveLength(1);
      expect(alerts[0]).toContain('CRITICAL');
    } finally {
      await fetch(`${panel}/__control/config`, { method: 'POST', body: JSON.stringify({ down: false }) });
    }
  });
});
