import { z } from 'zod';
import { dashboard } from '../../durable-objects/dashboard/dashboard.do';
import { defineTask, seedPolicies } from '../tasks/task';

/** Every minute: makes sure the dashboard's 30-second refresh is running. */
export const keepDashboardTask = defineTask({
  name: 'keep_dashboard',
  args: z.object({}).strict(),
  retry: seedPolicies.analytics,
  onExhausted: 'skip',
  handler: async ({ env }) => {
    await dashboard(env).start();
    return { ok: true };
  },
});
