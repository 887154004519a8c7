import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import worker from '../index';
import { call } from '../testing/http';

describe('GET /health', () => {
  it('answers 200 with db up when Postgres answers, and every capability on when all are configured', async () => {
    const res = await call('/health');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      ok: true,
      db: 'up',
      capabilities: { panel: true, payments: true, panel_webhooks: true, metrics: true, admin_alerts: true },
      off: [],
    });
  });

  it('says which capabilities are off and which variable turns each on', async () => {
    const ctx = createExecutionContext();
    const res = await worker.fetch(new Request('https://flarecast.test/health'), { ...env, REMNAWAVE_URL: '', CRYPTOBOT_TOKEN: '' }, ctx);
    await waitOnExecutionContext(ctx);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { capabilities: Record<string, boolean>; off: { capability: string; variable: string }[] };
    expect(body.capabilities).toMatchObject({ panel: false, payments: false, metrics: true });
    expect(body.off.map((o) => [o.capability, o.variable])).toEqual([
      ['panel', 'REMNAWAVE_URL'],
      ['payments', 'CRYPTOBOT_TOKEN'],
    ]);
  });

  it('answers 503 with the reason when Postgres does not, without leaking the URL', async () => {
    const ctx = createExecutionContext();
    const url = 'postgres://flarecast:s3cret-password@127.0.0.1:9/none';
    const res = await worker.fetch(new Request('https://flarecast.test/health'), { ...env, DATABASE_URL: url }, ctx);
    await waitOnExecutionContext(ctx);
    expect(res.status).toBe(503);
    const body = (await res.json()) as { ok: boolean; db: string; reason: string };
    expect(body).toMatchObject({ ok: false, db: 'down' });
    expect(body.reason.length).toBeGreaterThan(0);
    expect(JSON.stringify(body)).not.toContain('s3cret-password');
  });
});
