import { Hono } from 'hono';
import { AppError } from '../core/errors';
import type { AppEnv } from '../core/http';
import { render } from '../core/prometheus';
import { secretsEqual } from '../core/secrets';
import { collect } from './metrics';

/** `GET /metrics`: Prometheus text format, bearer `METRICS_TOKEN` (404 when no token is set). */
export function metricsRoutes() {
  return new Hono<AppEnv>().get('/', async (c) => {
    const token = c.var.config.METRICS_TOKEN;
    if (!token) throw new AppError(404, 'not_found', 'metrics are off (set METRICS_TOKEN)');
    const given = /^Bearer (.+)$/.exec(c.req.header('authorization') ?? '')?.[1] ?? '';
    if (!secretsEqual(token, given)) throw new AppError(401, 'unauthorized', 'missing or wrong bearer token');
    const text = render(await collect({ db: c.var.db, env: c.env }));
    return c.body(text, 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'cache-control': 'no-store' });
  });
}
