/**
 * Edge class: idempotency keys. The keys the system makes itself (`payment:<invoice>`, `cron:…`,
 * `bot:…`, `rekick:…`) are its own: an admin API caller cannot take one first and so have the
 * system's kick refused (409) or answered with another task's run.
 */
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import { getConfig } from '../core/config';
import { createDb } from '../core/db';
import { createLogger } from '../core/logger';
import { taskRegistry } from '../registry';
import { kickMany } from '../tasks/kick';
import { callApi, json } from '../testing/http';
import { paidInvoice, paymentReaches, postCryptoPayUpdate } from '../testing/payments';

describe('idempotency keys', () => {
  it("refuses an API caller the key of a payment's completion, and the payment still completes", async () => {
    const { id, invoiceId, update } = await paidInvoice();
    const taken = await callApi('/tasks', { body: { name: 'echo', args: {}, idempotency_key: `payment:${invoiceId}` } });
    expect(taken.status).toBe(400);
    expect(await json(taken)).toMatchObject({ field: 'idempotency_key' });
    expect((await postCryptoPayUpdate(JSON.stringify(update))).status).toBe(200);
    await paymentReaches(id, 'completed');
  });

  it('refuses every internal scope, in single and bulk kicks; keys that only look alike are the caller’s', async () => {
    for (const key of ['payment:1', 'cron:daily_report:2026-01-01T06:00:00.000Z', 'bot:ping:1', `rekick:${crypto.randomUUID()}`]) {
      const one = await callApi('/tasks', { body: { name: 'echo', idempotency_key: key } });
      expect(one.status, key).toBe(400);
      const bulk = await callApi('/tasks/bulk', { body: { tasks: [{ name: 'echo' }, { name: 'echo', idempotency_key: key }] } });
      expect(bulk.status, key).toBe(400);
      expect(await json(bulk)).toMatchObject({ field: 'tasks.1.idempotency_key' });
    }
    for (const key of [`Payment:${crypto.randomUUID()}`, `payments:${crypto.randomUUID()}`, `my-payment:${crypto.randomUUID()}`])
      expect((await callApi('/tasks', { body: { name: 'echo', idempotency_key: key } })).status, key).toBe(202);
  });

  it('keeps the system to its own scopes: an internal kick with a key outside them is a bug, not a run', async () => {
    const config = getConfig(env);
    const deps = { db: createDb(config), queue: env.TASKS_QUEUE, registry: taskRegistry, config, log: createLogger('test') };
    await expect(kickMany(deps, [{ name: 'echo', args: {}, idempotencyKey: 'anything' }])).rejects.toThrow(/outside the reserved scopes/);
  });
});
