import { describe, expect, it } from 'vitest';
import { call } from '../testing/http';

describe('GET /health', () => {
  it('answers 200 with db up when Postgres answers', async () => {
    const res = await call('/health');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ok: true, db: 'up' });
  });
});
