/**
 * A bulk operation on panel users against the Remnawave stand-in (20 ms per call): N users disabled
 * through `POST /api/bulk/users`, chunks of BULK_BATCH_SIZE on the panel's bulk route. Prints users/s,
 * panel calls and the failures the job listed.
 *
 *   npm run bench:bulk -- [--users 10000] [--latency 20] [--batch 50]
 */
import { parseArgs } from 'node:util';
import { adminApi, benchStack, figure, round } from './lib.ts';

const { values } = parseArgs({
  options: {
    users: { type: 'string', default: '10000' },
    latency: { type: 'string', default: '20' },
    batch: { type: 'string', default: '50' },
  },
});
const n = Number(values.users);
const stack = await benchStack({ vars: { BULK_BATCH_SIZE: values.batch as string } });
const panel = stack.remnawave;
if (!panel) throw new Error('the benchmark needs the Remnawave stand-in (unset REMNAWAVE_URL)');
try {
  const ids = Array.from({ length: n }, (_, i) => 1_000_000 + i);
  const expireAt = new Date(Date.now() + 30 * 86_400_000).toISOString();
  panel.upsertUsers(ids.map((id) => ({ id, username: `bench_${id}`, status: 'ACTIVE' as const, expireAt })));
  panel.configure({ latencyMs: Number(values.latency) });
  const api = adminApi(stack);
  const callsBefore = panel.state.calls.length;
  const started = Date.now();
  const { job_id } = await api('/bulk/users', { operation: 'disable', user_ids: ids });
  let job: Record<string, unknown> = {};
  while (job.status !== 'completed') {
    if (Date.now() - started > 10 * 60_000) throw new Error(`not completed: ${JSON.stringify(job)}`);
    await new Promise((r) => setTimeout(r, 100));
    job = await api(`/bulk/${job_id}`);
  }
  const seconds = (Date.now() - started) / 1000;
  const disabled = panel.users().filter((u) => u.status === 'DISABLED').length;
  console.log(`\nbulk disable: ${n} users, chunks of ${values.batch}, ${values.latency} ms per panel call`);
  figure('users/s (request → job completed)', round(n / seconds));
  figure('time, s', round(seconds, 2));
  figure('panel calls (listing + bulk)', panel.state.calls.length - callsBefore);
  figure('users disabled at the panel', `${disabled} of ${n}`);
  figure('failures listed', job.failed as number, '0');
} finally {
  await stack.close();
}
