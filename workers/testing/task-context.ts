import { env } from 'cloudflare:workers';
import { type Config, getConfig } from '../core/config';
import { createDb } from '../core/db';
import { createLogger } from '../core/logger';
import type { TaskContext } from '../tasks/task';
import { botApi } from '../telegram/outbound';

/**
 * What the runner hands a task's handler, for calling a handler directly with a changed config or
 * store: the test's env, a fresh db handle, the gated Bot API, no-op progress and kick.
 */
export function taskContext<Args>(
  name: string,
  args: Args,
  overrides: Partial<Omit<TaskContext<Args>, 'args'>> & { config?: Config } = {},
): TaskContext<Args> {
  const config = overrides.config ?? getConfig(env);
  return {
    args,
    run: { id: crypto.randomUUID(), name, attempt: 1, maxAttempts: 1, correlationId: 'test' },
    db: createDb(config),
    api: botApi(config, env),
    env,
    log: createLogger('test'),
    progress: async () => {},
    kick: async () => ({ id: 'none' }),
    signal: new AbortController().signal,
    ...overrides,
    config,
  };
}
