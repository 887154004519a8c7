import { createApp } from './app';
import { processRecipientBatch } from './campaigns/sender';
import { getConfig } from './core/config';
import { createApi } from './core/telegram';
import { taskRegistry } from './registry';
import { runScheduled } from './schedule/scheduled';
import { processTaskBatch } from './tasks/consumer';
import { processDeadLetterBatch } from './tasks/dead-letters';

const app = createApp({ registry: taskRegistry });

export default {
  fetch: app.fetch,

  async queue(batch, env) {
    const config = getConfig(env);
    const api = createApi(config, env);
    if (batch.queue.endsWith('-dlq')) await processDeadLetterBatch({ config, api }, batch);
    else if (batch.queue.endsWith('-broadcast')) await processRecipientBatch({ config, env }, batch);
    else await processTaskBatch({ config, env, api, registry: taskRegistry }, batch);
  },

  async scheduled(controller, env) {
    await runScheduled({ config: getConfig(env), env, registry: taskRegistry }, controller.cron, controller.scheduledTime);
  },
} satisfies ExportedHandler<Env>;

export { CampaignObject } from '../durable-objects/campaign/campaign.do';
export { DashboardObject } from '../durable-objects/dashboard/dashboard.do';
export { BotGate } from '../durable-objects/gate/gate.do';
