import { z } from 'zod';
import { ServiceError } from '../clients/http';
import { PANEL_BULK_LIMIT, remnawave } from '../clients/remnawave';
import { errorMessage } from '../core/logger';
import { escapeHtml } from '../core/telegram';
import { notifyRequester } from '../incidents/incidents';
import { defineTask, MAX_TIMEOUT_SECONDS, type Progress, seedPolicies } from '../tasks/task';

export const bulkOperations = ['disable', 'enable', 'reset_traffic', 'delete'] as const;

export const bulkArgs = z.object({
  operation: z.enum(bulkOperations),
  user_ids: z.array(z.number().int().positive()).max(100_000),
  params: z.record(z.string(), z.unknown()).optional(),
  /** Telegram id of the admin who asked: they get the summary (else every admin does). */
  requested_by: z.number().int().optional(),
});

export interface BulkProgress extends Progress {
  processed: number;
  failed: number;
  failures: { id: number; reason: string }[];
}

/** Failures listed in the job's progress (all are counted). */
const MAX_LISTED = 1000;

/**
 * A bulk operation on panel users: ids deduplicated, ids the panel does not have failed as "user not
 * found", the rest sent through the panel's bulk routes in chunks of `BULK_BATCH_SIZE` (≤ 500), with
 * progress after each chunk. A chunk the panel refuses is tried again user by user, so one bad user
 * fails alone with its reason and the others go through (the seed: log it and continue); the admin
 * who asked gets a summary in Telegram. No retries of the job: the failures are the report.
 */
export const bulkUserOperationTask = defineTask({
  name: 'bulk_user_operation',
  args: bulkArgs,
  retry: seedPolicies.bulk,
  requires: ['panel'],
  timeoutSeconds: MAX_TIMEOUT_SECONDS,
  handler: async ({ args, env, config, log, progress, signal }) => {
    const ids = [...new Set(args.user_ids)];
    const state: BulkProgress = { done: 0, total: ids.length, processed: 0, failed: 0, failures: [] };
    const fail = (id: number, reason: string) => {
      state.failed++;
      if (state.failures.length < MAX_LISTED) state.failures.push({ id, reason });
    };
    if (ids.length) {
      const panel = remnawave(config, { signal });
      const known = new Set((await panel.allUsers()).map((u) => u.id));
      const present = ids.filter((id) => known.has(id));
      for (const id of ids) if (!known.has(id)) fail(id, 'user not found');
      const size = Math.min(config.BULK_BATCH_SIZE, PANEL_BULK_LIMIT);
      const apply = (ids: number[]) =>
        args.operation === 'disable'
          ? panel.bulkUpdate(ids, { status: 'DISABLED' })
          : args.operation === 'enable'
            ? panel.bulkUpdate(ids, { status: 'ACTIVE' })
            : args.operation === 'reset_traffic'
              ? panel.bulkResetTraffic(ids)
              : panel.bulkDelete(ids);
      const reasonOf = (err: unknown) => (err instanceof ServiceError ? err.message : errorMessage(err));
      for (let i = 0; i < present.length; i += size) {
        // Timed out: the run is over, and no chunk is sent after it (another try may own the run).
        signal.throwIfAborted();
        const chunk = present.slice(i, i + size);
        try {
          await apply(chunk);
          state.processed += chunk.length;
        } catch (err) {
          log.warn('bulk_chunk_refused', { operation: args.operation, ids: chunk.length, error: reasonOf(err) });
          for (const id of chunk) {
            try {
              await apply([id]);
              state.processed++;
            } catch (one) {
              fail(id, reasonOf(one));
            }
          }
        }
        state.done = state.processed + state.failed;
        state.note = `${state.processed} done, ${state.failed} failed of ${state.total}`;
        await progress(state);
      }
      state.done = state.processed + state.failed;
    }
    state.note = `${state.processed} done, ${state.failed} failed of ${state.total}`;
    log.info('bulk_operation_done', { operation: args.operation, total: state.total, processed: state.processed, failed: state.failed });
    const text = `📦 Bulk <b>${args.operation}</b>: ${state.processed} of ${state.total} users done, ${state.failed} failed${
      state.failures.length
        ? `\n${state.failures
            .slice(0, 10)
            // The panel's words, cut before escaping so no entity is cut in half.
            .map((f) => `• ${f.id}: ${escapeHtml(f.reason.slice(0, 100))}`)
            .join('\n')}`
        : ''
    }`;
    await notifyRequester(env, config, args.requested_by, text, log);
    return state;
  },
});
