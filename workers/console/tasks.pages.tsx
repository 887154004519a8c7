import { Hono } from 'hono';
import { z } from 'zod';
import { AppError } from '../core/errors';
import { kick } from '../tasks/kick';
import type { TaskRegistry } from '../tasks/task';
import { getRun } from '../tasks/tasks.repo';
import { type ConsoleApi, type ConsoleEnv, noticeOf } from './console.kit';
import { type RunView, TasksPage } from './views';

/** `/admin/tasks`: task runs by name and status, and a dead run kicked again. */
export function taskPages(api: ConsoleApi, registry: TaskRegistry) {
  return new Hono<ConsoleEnv>()
    .get('/tasks', async (c) => {
      const filter = { name: c.req.query('name') || undefined, status: c.req.query('status') || undefined };
      const query = new URLSearchParams(
        Object.entries({ ...filter, cursor: c.req.query('cursor') }).filter((e): e is [string, string] => !!e[1]),
      );
      const page = await api.json<{ runs: RunView[]; next_cursor: string | null }>(c, 'GET', `/tasks?${query}`);
      return c.html(
        <TasksPage
          csrf={c.var.session.csrfToken}
          runs={page.ok ? page.data.runs : []}
          next={page.ok ? page.data.next_cursor : null}
          names={registry.names()}
          filter={filter}
          notice={noticeOf(c)}
          error={page.ok ? undefined : page.message}
        />,
        page.ok ? 200 : (page.status as 400),
      );
    })
    .get('/bulk/:id{[0-9a-f-]{36}}/events', (c) => api.passThrough(c, `/bulk/${c.req.param('id')}/events`))
    .post('/tasks/:id{[0-9a-f-]{36}}/rekick', async (c) => {
      // The path takes any 36 of [0-9a-f-]; Postgres only a UUID.
      const id = z.uuid().safeParse(c.req.param('id'));
      const run = id.success ? await getRun(c.var.db, id.data) : undefined;
      if (!run) throw new AppError(404, 'not_found', 'no such task run');
      if (run.status !== 'dead')
        throw new AppError(409, 'invalid_transition', `only dead runs are kicked again; this one is ${run.status}`);
      // Keyed by the dead run, in the system's own key scope: a double submit or two admins at once
      // kick it again once, not twice, and no API caller can take the key first.
      const { db, config, log } = c.var;
      await kick(
        { db, queue: c.env.TASKS_QUEUE, registry, config, log },
        { name: run.name, args: run.args, idempotencyKey: `rekick:${run.id}` },
      );
      log.info('console_rekick', { run: run.id, task: run.name });
      return c.redirect(`/admin/tasks?name=${encodeURIComponent(run.name)}&done=rekick`, 303);
    });
}
