import { describe, expect, it } from 'vitest';
import { createApp } from '../app';
import { taskRegistry } from '../registry';
import { call, callApi, json } from '../testing/http';

/** The admin API's routes as the app registers them: `[METHOD, /path/{param}]`, relative to /api. */
function apiRoutes(): [string, string][] {
  const seen = new Set<string>();
  const out: [string, string][] = [];
  for (const r of createApp({ registry: taskRegistry }).routes) {
    if (!r.path.startsWith('/api/') || r.method === 'ALL' || r.path === '/api/openapi.json') continue;
    const path = r.path.slice('/api'.length).replace(/:(\w+)(\{[^}]*\})?/g, '{$1}');
    const key = `${r.method} ${path}`;
    if (!seen.has(key)) out.push([r.method, path]);
    seen.add(key);
  }
  return out;
}

describe('the admin API description', () => {
  it('is OpenAPI 3.1 and lists every /api route the app serves, and nothing else', async () => {
    const doc = await json<{ openapi: string; info: { title: string }; paths: Record<string, Record<string, unknown>> }>(
      await callApi('/openapi.json'),
    );
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info.title).toBeTruthy();
    const routes = apiRoutes();
    expect(routes.length).toBeGreaterThan(15);
    for (const [method, path] of routes) expect(doc.paths[path]?.[method.toLowerCase()], `${method} ${path}`).toBeDefined();
    const documented = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    expect(documented.sort()).toEqual(routes.map(([m, p]) => `${m} ${p}`).sort());
  });

  it('refuses every /api route without the bearer token', async () => {
    const id = '00000000-0000-7000-8000-000000000000';
    for (const [method, path] of [...apiRoutes(), ['GET', '/openapi.json'] as [string, string]]) {
      const url = `/api${path.replace(/\{action\}/, 'start').replace(/\{\w+\}/g, id)}`;
      const res = await call(url, { method, headers: { 'content-type': 'application/json' }, body: method === 'GET' ? undefined : '{}' });
      expect(res.status, `${method} ${url}`).toBe(401);
    }
  });
});
