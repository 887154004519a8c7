import { createApp } from './app';
import { processRecipientsMessages, settleDeadRecipients } from './campaigns/sender';
import { getConfig } from './core/config';
import { createLogger } from './core/logger';
import { reportIncident } from './incidents/incidents';
import { taskRegistry } from './registry';
import { runScheduled } from './schedule/scheduled';
import { processTaskBatch } from './tasks/consumer';
import { processDeadLetterBatch } from './tasks/dead-letters';
import { botApi } from './telegram/outbound';

const app = createApp({ registry: taskRegistry });

export default {
  fetch: app.fetch,

  async queue(batch, env) {
    try {
      const config = getConfig(env);
      const api = botApi(config, env);
      if (batch.queue.endsWith('-broadcast-dlq')) await settleDeadRecipients(env, batch);
      else if (batch.queue.endsWith('-dlq')) await processDeadLetterBatch({ config, api, env, registry: taskRegistry }, batch);
      else if (batch.queue.endsWith('-broadcast')) await processRecipientsMessages({ config, env }, batch);
      else await processTaskBatch({ config, env, api, registry: taskRegistry }, batch);
    } catch (err) {
      // The batch is retried by the queue; the admins hear of the failure once per incident.
      await reportIncident(env, createLogger(crypto.randomUUID(), { queue: batch.queue }), `queue ${batch.queue}`, err);
      throw err;
    }
  },

  async scheduled(controller, env) {
    try {
      await runScheduled({ config: getConfig(env), env, registry: taskRegistry }, controller.cron, controller.scheduledTime);
    } catch (err) {
      await reportIncident(env, createLogger(crypto.randomUUID(), { cron: controller.cron }), `cron ${controller.cron}`, err);
      throw err;
    }
  },
} satisfies ExportedHandler<Env>;

export { CampaignObject } from '../durable-objects/campaign/campaign.do';
export { DashboardObject } from '../durable-objects/dashboard/dashboard.do';
export { BotGate } from '../durable-objects/gate/gate.do';
export { IncidentObject } from '../durable-objects/incidents/incidents.do';
