import { env } from 'cloudflare:workers';
import { incidents } from '../../durable-objects/incidents/incidents.do';
import { poll } from './poll';
import { deliveries } from './telegram';

/** Waits until the incident ledger's outbox has sent every admin message queued in it. */
export const outboxDrained = () =>
  poll(async () => ((await incidents(env).outboxPending()) === 0 ? true : undefined), { what: 'the admin outbox to drain' });

/** The texts of the messages to `chat` after its first `before`, those that mention `part`. */
export const textsSince = async (chat: number, before: number, part: string) =>
  (await deliveries(chat))
    .slice(before)
    .filter((d) => d.text?.includes(part))
    .map((d) => d.text);
