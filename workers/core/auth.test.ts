import { describe, expect, it } from 'vitest';
import { createApp } from '../app';
import { taskRegistry } from '../registry';
import { callApi } from '../testing/http';

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

  it('accepts the right token', async () => {
    expect((await callApi('/tasks')).status).toBe(200);
  });
});
