/**
 * Edge class: signed provider webhooks (`/webhooks/cryptobot`, `/webhooks/remnawave`). Signatures are
 * checked over the bytes received, so a genuine body that is not clean UTF-8 is accepted; a panel
 * event needs a fresh timestamp that its signature covers, is applied once, and never rolls state
 * back. Forged and redelivered CryptoBot updates: `workers/payments/payments.test.ts`.
 */
import { env } from 'cloudflare:workers';
import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { nodeHealthTable } from '../monitoring/monitoring.schema';
import { admin } from '../testing/admin-chat';
import { outboxDrained } from '../testing/alerts';
import { withTestDb } from '../testing/db';
import { json } from '../testing/http';
import { panelObject, panelSignature, postPanelEvent } from '../testing/panel';
import { paidInvoice, paymentReaches, postCryptoPayUpdate } from '../testing/payments';
import { poll } from '../testing/poll';
import { deliveries } from '../testing/telegram';

const panel = env.REMNAWAVE_URL;
const MINUTE = 60_000;
const encoder = new TextEncoder();

/** `text` as UTF-8 with a BOM in front and, in place of `@@`, two bytes that are not UTF-8. */
function unicodeHostile(text: string): Uint8Array {
  const [head = '', tail = ''] = text.split('@@');
  return new Uint8Array([0xef, 0xbb, 0xbf, ...encoder.encode(head), 0xff, 0xfe, ...encoder.encode(tail)]);
}

describe('CryptoBot webhook over raw bytes', () => {
  it('accepts a genuine update whose bytes are not clean UTF-8 (a BOM, invalid sequences) and completes the payment', async () => {
    const { id, update } = await paidInvoice();
    const bytes = unicodeHostile(JSON.stringify({ ...update, payload: { ...update.payload, comment: 'thanks @@' } }));
    expect((await postCryptoPayUpdate(bytes)).status).toBe(200);
    await paymentReaches(id, 'completed');
  });
});

describe('panel webhooks: signatures, timestamps, replays', () => {
  /** A node the panel knows, first seen online by the product. */
  async function onlineNode(): Promise<{ uuid: string; name: string; data: unknown }> {
    const uuid = crypto.randomUUID();
    const name = `sec-${uuid.slice(0, 6)}`;
    await fetch(`${panel}/__control/nodes`, {
      method: 'POST',
      body: JSON.stringify({ uuid, name, isConnected: true, isConnecting: false, isDisabled: false }),
    });
    await withTestDb((db) =>
      db.insert(nodeHealthTable).values({ nodeUuid: uuid, name, status: 'online', since: new Date(Date.now() - 60 * MINUTE) }),
    );
    return { uuid, name, data: await panelObject(`/api/nodes/${uuid}`) };
  }
  const nodeEvent = (event: string, data: unknown, at = new Date()) =>
    JSON.stringify({ scope: 'node', event, timestamp: at.toISOString(), data });
  const nodeStatus = async (uuid: string) =>
    (await withTestDb((db) => db.select().from(nodeHealthTable).where(eq(nodeHealthTable.nodeUuid, uuid))))[0]?.status;
  /** Alerts naming `name` the admin got (alerts due together arrive as one digest: each counts). */
  const alertsAbout = async (name: string) =>
    (await deliveries(admin)).flatMap((d) => (d.text ?? '').split('\n\n')).filter((alert) => alert.includes(name)).length;

  it('accepts a genuine event whose bytes are not clean UTF-8', async () => {
    const node = await onlineNode();
    const text = nodeEvent('node.connection_lost', node.data).replace(`"name":"${node.name}"`, `"name":"${node.name}@@"`);
    const res = await postPanelEvent(unicodeHostile(text));
    expect(res.status).toBe(200);
    expect(await json(res)).toMatchObject({ ok: true, status: 'offline' });
  });

  it('refuses an event without a timestamp, with one 5 minutes off, or with a header that is not the signed one', async () => {
    const node = await onlineNode();
    const body = nodeEvent('node.connection_lost', node.data);
    expect((await postPanelEvent(body, { 'x-remnawave-timestamp': '' })).status).toBe(401);
    for (const off of [-6 * MINUTE, 6 * MINUTE]) {
      const stale = nodeEvent('node.connection_lost', node.data, new Date(Date.now() + off));
      expect((await postPanelEvent(stale)).status).toBe(401);
    }
    // A fresh header in front of an old signed body: the header is not what the signature covers.
    const old = nodeEvent('node.connection_lost', node.data, new Date(Date.now() - 6 * MINUTE));
    expect((await postPanelEvent(old, { 'x-remnawave-timestamp': new Date().toISOString() })).status).toBe(401);
    expect(await nodeStatus(node.uuid)).toBe('online');
    expect(await alertsAbout(node.name)).toBe(0);
  });

  it('a captured node.connection_lost replayed after the node is back changes nothing and alerts nobody', async () => {
    const node = await onlineNode();
    const restoredAt = Date.now();
    const lost = nodeEvent('node.connection_lost', node.data, new Date(restoredAt - 2_000));
    expect(await json(await postPanelEvent(lost))).toMatchObject({ status: 'offline', alerted: true });
    expect(await json(await postPanelEvent(nodeEvent('node.connection_restored', node.data, new Date(restoredAt))))).toMatchObject({
      status: 'online',
      alerted: true,
    });
    const alerts = await poll(async () => ((await alertsAbout(node.name)) === 2 ? 2 : undefined), { what: 'two alerts' });

    // The same bytes again, within the five minutes: recognised, not applied.
    expect(await json(await postPanelEvent(lost))).toEqual({ ok: true, duplicate: true });
    // An event older than the state it would change (lost a second before the restore was seen).
    const older = nodeEvent('node.connection_lost', node.data, new Date(restoredAt - 1_000));
    expect(await json(await postPanelEvent(older))).toEqual({ ok: true, stale: true });
    // Captured long ago and signed then: refused.
    const captured = nodeEvent('node.connection_lost', node.data, new Date(Date.now() - 30 * MINUTE));
    expect((await postPanelEvent(captured)).status).toBe(401);

    expect(await nodeStatus(node.uuid)).toBe('online');
    // Alerts are queued before the route answers: once the outbox is empty, a replay's alert would be sent.
    await outboxDrained();
    expect(await alertsAbout(node.name)).toBe(alerts);
  });

  it('a replayed user.expired tells nobody twice', async () => {
    const id = 80_000 + Math.floor(Math.random() * 9_000);
    const telegramId = 7_000_000_000 + id;
    await fetch(`${panel}/__control/users`, {
      method: 'POST',
      body: JSON.stringify({
        id,
        username: `exp_${id}`,
        status: 'EXPIRED',
        expireAt: new Date(Date.now() - 3_600_000).toISOString(),
        telegramId,
      }),
    });
    const body = JSON.stringify({
      scope: 'user',
      event: 'user.expired',
      timestamp: new Date().toISOString(),
      data: await panelObject(`/api/users/${id}`),
      meta: null,
    });
    expect(await json(await postPanelEvent(body))).toEqual({ ok: true, told: 1 });
    expect(await json(await postPanelEvent(body))).toEqual({ ok: true, duplicate: true });
    // The same event signed with another secret is refused, whatever it says.
    expect((await postPanelEvent(body, { 'x-remnawave-signature': panelSignature(body, 'x'.repeat(32)) })).status).toBe(401);
  });
});
