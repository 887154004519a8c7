import { Hono } from 'hono';
import { z } from 'zod';
import { type C, type ConsoleApi, type ConsoleEnv, noticeOf } from './console.kit';
import { CampaignPage, CampaignsPage, type CampaignView } from './views';

const optionalInt = z
  .string()
  .trim()
  .default('')
  .transform((v, ctx) => {
    if (v === '') return undefined;
    if (!/^-?\d+$/.test(v)) {
      ctx.addIssue({ code: 'custom', message: 'must be a whole number' });
      return z.NEVER;
    }
    return Number(v);
  });

/** The new-campaign form, as the browser posts it; turned into the API's JSON body. */
const campaignForm = z.object({
  title: z.string().trim().min(1, 'required'),
  kind: z.enum(['text', 'copy']).default('text'),
  text: z.string().default(''),
  parse_mode: z.enum(['', 'HTML', 'MarkdownV2']).default(''),
  copy_from_chat_id: optionalInt,
  copy_message_id: optionalInt,
  variant_language_1: z.string().trim().default(''),
  variant_text_1: z.string().default(''),
  variant_language_2: z.string().trim().default(''),
  variant_text_2: z.string().default(''),
  audience_languages: z.string().default(''),
  rate_per_second: optionalInt,
  paid_broadcast: z.literal('on').optional(),
  scheduled_at: z
    .string()
    .trim()
    .default('')
    .refine((v) => v === '' || /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d)?$/.test(v), 'must be a date and time'),
});

function campaignBody(f: z.infer<typeof campaignForm>) {
  const parseMode = f.parse_mode || undefined;
  const messages: Record<string, unknown>[] = [
    f.kind === 'copy'
      ? { language_code: null, copy: { from_chat_id: f.copy_from_chat_id, message_id: f.copy_message_id } }
      : { language_code: null, text: f.text, parse_mode: parseMode },
  ];
  for (const [language, text] of [
    [f.variant_language_1, f.variant_text_1],
    [f.variant_language_2, f.variant_text_2],
  ] as const) {
    if (language || text.trim()) messages.push({ language_code: language, text, parse_mode: parseMode });
  }
  const languages = f.audience_languages
    .split(/[\s,]+/)
    .map((l) => l.trim())
    .filter(Boolean);
  return {
    title: f.title,
    messages,
    audience: languages.length ? { language_codes: languages } : {},
    paid_broadcast: f.paid_broadcast === 'on',
    rate_per_second: f.rate_per_second,
    scheduled_at: f.scheduled_at ? `${f.scheduled_at.length === 16 ? `${f.scheduled_at}:00` : f.scheduled_at}Z` : undefined,
  };
}

type Refusal = { status: number; message: string };

/** `/admin/campaigns`: the list with the new-campaign form, a campaign's page, its preview and actions. */
export function campaignPages(api: ConsoleApi) {
  const campaignPage = async (c: C, id: string, error?: Refusal) => {
    const campaign = await api.get<CampaignView>(c, `/campaigns/${id}`);
    return c.html(
      <CampaignPage csrf={c.var.session.csrfToken} c={campaign} notice={noticeOf(c)} error={error?.message} />,
      (error?.status ?? 200) as 200,
    );
  };
  const campaignsPage = async (c: C, form: Record<string, string> = {}, error?: Refusal) => {
    const query = new URLSearchParams({ limit: '20', ...(c.req.query('cursor') ? { cursor: c.req.query('cursor') as string } : {}) });
    const page = await api.get<{ campaigns: CampaignView[]; next_cursor: string | null }>(c, `/campaigns?${query}`);
    return c.html(
      <CampaignsPage
        csrf={c.var.session.csrfToken}
        campaigns={page.campaigns}
        next={page.next_cursor}
        form={form}
        error={error?.message}
      />,
      (error?.status ?? 200) as 200,
    );
  };
  return new Hono<ConsoleEnv>()
    .get('/campaigns', (c) => campaignsPage(c))
    .post('/campaigns', async (c) => {
      const raw = Object.fromEntries(
        Object.entries(await c.req.parseBody()).filter((e): e is [string, string] => typeof e[1] === 'string'),
      );
      const parsed = campaignForm.safeParse(raw);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        return campaignsPage(c, raw, { status: 400, message: `${issue?.path.join('.') || 'form'}: ${issue?.message ?? 'invalid'}` });
      }
      const created = await api.json<CampaignView>(c, 'POST', '/campaigns', campaignBody(parsed.data));
      if (!created.ok) return campaignsPage(c, raw, created);
      return c.redirect(`/admin/campaigns/${created.data.id}?done=created`, 303);
    })
    .get('/campaigns/:id{[0-9a-f-]{36}}', (c) => campaignPage(c, c.req.param('id')))
    .get('/campaigns/:id{[0-9a-f-]{36}}/events', (c) => api.passThrough(c, `/campaigns/${c.req.param('id')}/events`))
    .post('/campaigns/:id{[0-9a-f-]{36}}/preview', async (c) => {
      const id = c.req.param('id');
      const form = await c.req.parseBody();
      const chat = optionalInt.safeParse(typeof form.chat_id === 'string' ? form.chat_id : '');
      if (!chat.success || chat.data === undefined) return campaignPage(c, id, { status: 400, message: 'chat_id: must be a whole number' });
      const language = typeof form.language_code === 'string' && form.language_code.trim() ? form.language_code.trim() : null;
      const sent = await api.json(c, 'POST', `/campaigns/${id}/preview`, { chat_id: chat.data, language_code: language });
      if (!sent.ok) return campaignPage(c, id, sent);
      return c.redirect(`/admin/campaigns/${id}?done=preview`, 303);
    })
    .post('/campaigns/:id{[0-9a-f-]{36}}/:action{(?:start|pause|resume|cancel)}', async (c) => {
      const { id, action } = c.req.param();
      const result = await api.json(c, 'POST', `/campaigns/${id}/${action}`);
      if (!result.ok) return campaignPage(c, id, result);
      return c.redirect(`/admin/campaigns/${id}?done=${action}`, 303);
    });
}
