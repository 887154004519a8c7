import { createExecutionContext, waitOnExecutionContext } from 'cloudflare:test';
import { env } from 'cloudflare:workers';
import { describe, expect, it } from 'vitest';
import worker from '../index';
import { call, callApi, json } from '../testing/http';

describe('HTTP edges', () => {
  it('echoes a well-formed correlation id and makes one up otherwise', async () => {
    const given = await call('/health', { headers: { 'x-correlation-id': 'req-123' } });
    expect(given.headers.get('x-correlation-id')).toBe('req-123');
    const made = await call('/health', { headers: { 'x-correlation-id': 'bad id with spaces' } });
    expect(made.headers.get('x-correlation-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers unknown routes 404 in JSON', async () => {
    const res = await call('/nope');
    expect(res.status).toBe(404);
    expect(await json(res)).toMatchObject({ error: 'not_found' });
  });

  it('names the query field that is wrong', async () => {
    const res = await callApi('/tasks?status=sleeping');
    expect(res.status).toBe(400);
    expect(await json(res)).toMatchObject({ field: 'status' });
  });

  it('answers 500 "misconfigured" without details when a variable is missing', async () => {
    const broken = { ...env } as Record<string, unknown>;
    delete broken.BOT_TOKEN;
    const ctx = createExecutionContext();
    const res = await worker.fetch(new Request('https://flarecast.test/health'), broken as unknown as Env, ctx);
    await waitOnExecutionContext(ctx);
    expect(res.status).toBe(500);
    const body = await res.text();
    expect(JSON.parse(body)).toEqual({ error: 'misconfigured', message: 'the service is misconfigured; see the logs' });
    expect(body).not.toContain(env.ADMIN_API_TOKEN);
  });
});
