import { describe, expect, it } from 'vitest';
import { createApp } from '../app';
import { taskRegistry } from '../registry';
import { call, callApi } from '../testing/http';

// Every route the app serves under /api, read from the router itself so a new route cannot be missed.
const apiRoutes = createApp({ registry: taskRegistry })
  .routes.filter((r) => r.path.startsWith('/api/') && r.method !== 'ALL')
  .map((r) => ({ method: r.method, path: r.path.replace(/^\/api/, '').replace(/:[a-z_]+/g, crypto.randomUUID()) }));

describe('admin API authentication', () => {
  it('has routes to check', () => {
    expect(apiRoutes.length).toBeGreaterThanOrEqual(5);
  });

  for (const { method, path } of apiRoutes) {
    it(`${method} /api${path} refuses a missing or wrong bearer token`, async () => {
      const body = method === 'GET' ? undefined : {};
      for (const token of [null, 'wrong-token', '']) {
        const res = await callApi(path, { method, body, token });
        expect(res.status).toBe(401);
        expect(res.headers.get('www-authenticate')).toContain('Bearer');
      }
    });
  }

  it('refuses oversized credentials on every edge as it refuses wrong ones', async () => {
    const huge = 'A'.repeat(16 * 1024);
    const body = JSON.stringify({ update_id: 1 });
    const post = (path: string, headers: Record<string, string>) =>
      call(path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
    expect((await callApi('/tasks', { token: huge })).status).toBe(401);
    expect((await call('/metrics', { headers: { authorization: `Bearer ${huge}` } })).status).toBe(401);
    expect((await post('/telegram/webhook', { 'x-telegram-bot-api-secret-token': huge })).status).toBe(401);
    expect((await post('/webhooks/cryptobot', { 'crypto-pay-api-signature': huge })).status).toBe(401);
    const panel = { 'x-remnawave-signature': huge, 'x-remnawave-timestamp': new Date().toISOString() };
    expect((await post('/webhooks/remnawave', panel)).status).toBe(401);
    expect((await call('/admin/tasks', { headers: { cookie: `flarecast_session=${huge}`, accept: 'application/json' } })).status).toBe(401);
  });

  it('accepts the right token', async () => {
    expect((await callApi('/tasks')).status).toBe(200);
  });
});
