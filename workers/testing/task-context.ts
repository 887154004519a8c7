import { env } from 'cloudflare:workers';
import { type Config, getConfig } from '../core/config';
import { createDb } from '../core/db';
import { createLogger } from '../core/logger';
import { taskRegistry } from '../registry';
import { kicker } from '../tasks/kick';
import { savedProgress } from '../tasks/runner';
import type { TaskContext } from '../tasks/task';
import { setProgress } from '../tasks/tasks.repo';
import { botApi } from '../telegram/outbound';

/**
 * What the runner hands a task's handler, for calling a handler directly with a changed config or
 * store: the test's env, a fresh db handle, the gated Bot API, and the runner's own `progress` (saved
 * on the run's row) and `kick` (onto the real tasks queue).
 */
export function taskContext<Args>(
  name: string,
  args: Args,
  overrides: Partial<Omit<TaskContext<Args>, 'args'>> & { config?: Config } = {},
): TaskContext<Args> {
  const config = overrides.config ?? getConfig(env);
  const db = createDb(config);
  const log = createLogger('test');
  const run = { id: crypto.randomUUID(), name, attempt: 1, maxAttempts: 1, correlationId: 'test' };
  return {
    args,
    run,
    db,
    api: botApi(config, env),
    env,
    log,
    progress: savedProgress({ saveProgress: (id, p) => setProgress(db, id, p) }, run.id, log),
    kick: kicker({ db, queue: env.TASKS_QUEUE, registry: taskRegistry, config, log }),
    signal: new AbortController().signal,
    ...overrides,
    config,
  };
}
