import { createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { botGate } from '../../durable-objects/gate/gate.do';
import { AppError } from '../core/errors';
import { type AppEnv, createRouter, progressEvents } from '../core/http';
import { errorSchema, errors, instant, json } from '../core/openapi';
import { findCampaign, listCampaigns } from './campaigns.repo';
import { campaignJson, campaignObject, createCampaign, openCampaign, sendPreview } from './campaigns.service';
import { messageInputSchema, toVariant, variantFor } from './content';
import { campaignActions, campaignStatuses, isFinished } from './lifecycle';

const createBody = z.object({
  title: z.string().min(1).max(200),
  messages: z.array(messageInputSchema).min(1).max(50),
  audience: z
    .object({ language_codes: z.array(z.string().min(2).max(16)).min(1).optional() })
    .strict()
    .default({}),
  paid_broadcast: z.boolean().default(false),
  rate_per_second: z.number().int().positive().optional(),
  scheduled_at: instant().optional(),
});

const campaignSchema = z
  .object({
    id: z.uuid(),
    title: z.string(),
    status: z.enum(campaignStatuses),
    total: z.number().int(),
    sent: z.number().int(),
    failed: z.number().int(),
    blocked: z.number().int(),
    pending: z.number().int(),
    /** Claimed recipients whose send is not reported yet: after a pause or cancel it drains to 0. */
    in_flight: z.number().int(),
    unknown: z.number().int(),
    rate_per_second: z.number().int(),
    paid_broadcast: z.boolean(),
    usage: z.object({
      do_requests: z.number().int(),
      queue_operations: z.number().int(),
      db_round_trips: z.number().int(),
      sqlite_rows_read: z.number().int(),
      sqlite_rows_written: z.number().int(),
    }),
    gate: z
      .object({
        pace: z.number().openapi({ description: 'Share of the ordinary limit the bot paces at now (a 429 cuts it, quiet restores it)' }),
        paid_pace: z.number().openapi({ description: 'Share of the paid limit the bot paces at now' }),
        blocked_until: z.string().nullable().openapi({ description: 'While the bot waits out a 429' }),
        last_429_at: z.string().nullable(),
      })
      .openapi({ description: 'The bot-wide send budget every campaign shares' }),
    audience: z.object({ language_codes: z.array(z.string()).optional() }),
    scheduled_at: z.string().nullable(),
    started_at: z.string().nullable(),
    finished_at: z.string().nullable(),
    correlation_id: z.string().nullable().openapi({ description: 'Of the request that started it; its sends log it' }),
    created_at: z.string(),
  })
  .openapi('Campaign');

/** A campaign as `GET /api/campaigns/{id}` answers it. */
export type CampaignJson = z.infer<typeof campaignSchema>;
/** A campaign as the list answers it. */
export type CampaignListItem = Omit<CampaignJson, 'pending' | 'in_flight' | 'usage' | 'correlation_id' | 'gate'>;

const idParam = z.object({ id: z.uuid() });

const routes = {
  create: createRoute({
    method: 'post',
    path: '/campaigns',
    summary: 'Create a campaign (a draft)',
    security: [{ Bearer: [] }],
    request: { body: { content: { 'application/json': { schema: createBody } }, required: true } },
    responses: { 201: json(campaignSchema, 'The draft'), ...errors },
  }),
  get: createRoute({
    method: 'get',
    path: '/campaigns/{id}',
    summary: 'A campaign with its live counters',
    security: [{ Bearer: [] }],
    request: { params: idParam },
    responses: { 200: json(campaignSchema, 'The campaign'), ...errors, 404: json(errorSchema, 'No such campaign') },
  }),
  list: createRoute({
    method: 'get',
    path: '/campaigns',
    summary: 'Campaigns, newest first',
    security: [{ Bearer: [] }],
    request: {
      query: z.object({
        status: z.enum(campaignStatuses).optional(),
        cursor: z.uuid().optional(),
        limit: z.coerce.number().int().min(1).max(100).default(20),
      }),
    },
    responses: {
      200: json(
        z.object({
          campaigns: z.array(campaignSchema.omit({ pending: true, in_flight: true, usage: true, correlation_id: true, gate: true })),
          next_cursor: z.uuid().nullable(),
        }),
        'A page',
      ),
      ...errors,
    },
  }),
  act: createRoute({
    method: 'post',
    path: '/campaigns/{id}/{action}',
    summary: 'Start, pause, resume or cancel',
    security: [{ Bearer: [] }],
    request: { params: idParam.extend({ action: z.enum(campaignActions) }) },
    responses: {
      200: json(campaignSchema, 'The campaign after the transition'),
      ...errors,
      404: json(errorSchema, 'No such campaign'),
      409: json(errorSchema, 'Impossible transition'),
    },
  }),
  preview: createRoute({
    method: 'post',
    path: '/campaigns/{id}/preview',
    summary: 'Send the message to one chat as a preview',
    security: [{ Bearer: [] }],
    request: {
      params: idParam,
      body: {
        content: {
          'application/json': { schema: z.object({ chat_id: z.number().int(), language_code: z.string().nullable().default(null) }) },
        },
        required: true,
      },
    },
    responses: {
      200: json(z.object({ message_id: z.number().int() }), 'Sent'),
      ...errors,
      404: json(errorSchema, 'No such campaign'),
      422: json(errorSchema, 'Telegram refused the message'),
      503: json(errorSchema, 'Telegram is unavailable or limiting the bot'),
    },
  }),
  events: createRoute({
    method: 'get',
    path: '/campaigns/{id}/events',
    summary: 'Server-sent events: `progress` (the campaign JSON) at least once a second, `done` at the end',
    security: [{ Bearer: [] }],
    request: { params: idParam },
    responses: {
      200: { content: { 'text/event-stream': { schema: z.string() } }, description: 'The event stream' },
      ...errors,
      404: json(errorSchema, 'No such campaign'),
    },
  }),
};

/** `/api/campaigns`: create, read, drive and watch broadcasts. */
export function campaignRoutes() {
  return createRouter()
    .openapi(routes.create, async (c) => {
      const body = c.req.valid('json');
      const campaign = await createCampaign(c.env, c.var.db, c.var.config, {
        title: body.title,
        variants: body.messages.map(toVariant),
        audience: body.audience,
        paid: body.paid_broadcast,
        ratePerSecond: body.rate_per_second,
        scheduledAt: body.scheduled_at ? new Date(body.scheduled_at) : null,
      });
      c.var.log.info('campaign_created', { campaign: campaign.id, variants: body.messages.length });
      return c.json({ ...campaign, gate: await gateView(c.env) }, 201);
    })
    .openapi(routes.get, async (c) => {
      const { id } = c.req.valid('param');
      return c.json(await liveCampaign(c, id), 200);
    })
    .openapi(routes.list, async (c) => {
      const q = c.req.valid('query');
      const rows = await listCampaigns(c.var.db, q);
      const last = rows.length === q.limit ? rows.at(-1) : undefined;
      return c.json(
        {
          campaigns: rows.map(listItem),
          next_cursor: last?.id ?? null,
        },
        200,
      );
    })
    .openapi(routes.preview, async (c) => {
      const { id } = c.req.valid('param');
      const { chat_id, language_code } = c.req.valid('json');
      const { variants } = await openCampaign(c.env, c.var.db, id);
      const messageId = await sendPreview(c.env, c.var.config, chat_id, variantFor(variants, language_code));
      return c.json({ message_id: messageId }, 200);
    })
    .openapi(routes.events, async (c) => {
      const { id } = c.req.valid('param');
      const first = await liveCampaign(c, id);
      return progressEvents(
        c,
        first,
        () => liveCampaign(c, id),
        (campaign) => isFinished(campaign.status),
      ) as never;
    })
    .openapi(routes.act, async (c) => {
      const { id, action } = c.req.valid('param');
      const found = await findCampaign(c.var.db, id);
      if (!found) throw new AppError(404, 'not_found', 'no such campaign');
      const { stub } = await campaignObject(c.env, c.var.db, id, found);
      const result = await stub.act(action, c.var.log.correlationId);
      if (!result.ok) throw new AppError(409, 'invalid_transition', result.reason);
      c.var.log.info('campaign_transition', { campaign: id, action, status: result.snapshot.status });
      return c.json({ ...campaignJson(found, result.snapshot), gate: await gateView(c.env) }, 200);
    });
}

/** A campaigns row as `GET /api/campaigns` lists it. */
function listItem(r: Awaited<ReturnType<typeof listCampaigns>>[number]) {
  return {
    id: r.id,
    title: r.title,
    status: r.status,
    total: r.total,
    sent: r.sent,
    failed: r.failed,
    blocked: r.blocked,
    unknown: r.unknown,
    rate_per_second: r.ratePerSecond,
    paid_broadcast: r.paidBroadcast,
    audience: r.audience,
    scheduled_at: r.scheduledAt?.toISOString() ?? null,
    started_at: r.startedAt?.toISOString() ?? null,
    finished_at: r.finishedAt?.toISOString() ?? null,
    created_at: r.createdAt.toISOString(),
  };
}

/** The bot-wide budget as the campaign JSON shows it. */
async function gateView(env: Env) {
  const g = await botGate(env).stats();
  const iso = (t: number | null) => (t === null ? null : new Date(t).toISOString());
  return {
    pace: g.pace,
    paid_pace: g.paidPace,
    blocked_until: g.blockedUntil > Date.now() ? iso(g.blockedUntil) : null,
    last_429_at: iso(g.lastFloodAt),
  };
}

async function liveCampaign(c: Context<AppEnv>, id: string) {
  const found = await findCampaign(c.var.db, id);
  if (!found) throw new AppError(404, 'not_found', 'no such campaign');
  const { snapshot } = await campaignObject(c.env, c.var.db, id, found);
  return { ...campaignJson(found, snapshot), gate: await gateView(c.env) };
}
