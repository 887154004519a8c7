import { Composer, type Filter, GrammyError } from 'grammy';
import type { Message } from 'grammy/types';
import { CALLBACK, type CardAction, campaignCard, languagePicker } from '../campaigns/campaign-view';
import { audienceCount } from '../campaigns/campaigns.repo';
import { createCampaign, openCampaign, putVariant, sendPreview } from '../campaigns/campaigns.service';
import { type Variant, variantFor } from '../campaigns/content';
import { DomainError } from '../core/errors';
import { findSession, saveSession } from './admin-sessions.repo';
import type { BotContext } from './bot.context';
import { firstOfAlbum } from './updates.repo';

type PostCtx = Filter<BotContext, 'message'>;
type ButtonCtx = Filter<BotContext, 'callback_query:data'>;

const TITLE_LENGTH = 60;

/** What a message to broadcast carries; service messages (a pin, a timer, a background) carry none of it. */
const POST_FIELDS = [
  'text',
  'photo',
  'video',
  'animation',
  'document',
  'audio',
  'voice',
  'video_note',
  'sticker',
  'location',
  'venue',
  'contact',
  'poll',
  'dice',
] as const satisfies readonly (keyof Message)[];

/**
 * Broadcasts from the admin chat (`ADMIN_TELEGRAM_IDS` only; anyone else gets nothing of it):
 * - a post sent or forwarded to the bot becomes a draft, from its structure (text with entities,
 *   photo/video/document/animation by file_id with caption, anything else as a copy of the message);
 * - the draft's card has buttons to add language variants (the admin's next post becomes the variant),
 *   preview, start, pause, resume and cancel;
 * - once started, the campaign's object edits that card in place with a progress bar until it ends.
 */
export function campaignsComposer(adminIds: readonly number[]): Composer<BotContext> {
  const composer = new Composer<BotContext>();
  const admins = composer.chatType('private').filter((ctx) => adminIds.includes(ctx.from.id));
  admins.callbackQuery(CALLBACK, async (ctx) => {
    const [, action, id, language] = ctx.match as RegExpMatchArray as [string, CardAction, string, string | undefined];
    try {
      await onButton(ctx, action, id, language);
    } catch (err) {
      if (!(err instanceof DomainError)) throw err;
      await ctx.answerCallbackQuery({ text: err.kind === 'not_found' ? ctx.t('campaign-not-found') : err.message, show_alert: true });
    }
  });
  admins.on('message').filter(
    (ctx) => POST_FIELDS.some((f) => ctx.message[f] !== undefined) && !ctx.message.text?.startsWith('/'),
    async (ctx) => {
      try {
        await onPost(ctx);
      } catch (err) {
        if (!(err instanceof DomainError)) throw err;
        await ctx.reply(err.kind === 'not_found' ? ctx.t('campaign-not-found') : ctx.t('campaign-invalid', { reason: err.message }));
      }
    },
  );
  return composer;
}

/** A post: the variant the admin asked for, or a new draft. */
async function onPost(ctx: PostCtx): Promise<void> {
  const { db, env, config } = ctx.deps;
  const message = ctx.message;
  const adminId = ctx.from.id;
  // Each photo of an album is an update of its own; a campaign sends one message per user.
  if (message.media_group_id !== undefined) {
    if (await firstOfAlbum(db, message.media_group_id)) await ctx.reply(ctx.t('campaign-album'));
    return;
  }
  const session = await findSession(db, adminId);
  if (session?.awaitingLanguage) {
    try {
      await putVariant(env, db, session.campaignId, variantOf(message, session.awaitingLanguage));
    } catch (err) {
      // A campaign that left draft (or is gone) takes no variant: stop waiting, or every later post is refused too.
      if (err instanceof DomainError && err.kind !== 'invalid') await saveSession(db, adminId, session.campaignId, null);
      throw err;
    }
    await saveSession(db, adminId, session.campaignId, null);
    await replyCard(ctx, session.campaignId);
    return;
  }
  const campaign = await createCampaign(env, db, config, {
    title: titleOf(message),
    variants: [variantOf(message, null)],
    audience: {},
    paid: false,
    scheduledAt: null,
  });
  await saveSession(db, adminId, campaign.id, null);
  ctx.deps.log.info('campaign_drafted_in_chat', { campaign: campaign.id, admin: adminId });
  await replyCard(ctx, campaign.id);
}

async function onButton(ctx: ButtonCtx, action: CardAction, id: string, language: string | undefined): Promise<void> {
  const { db, env, config } = ctx.deps;
  const { campaign, stub, snapshot, variants } = await openCampaign(env, db, id);
  const languages = variants.map((v) => v.language_code);
  if (action === 'lang') {
    if (!language) {
      await ctx.editMessageReplyMarkup({ reply_markup: languagePicker(id, languages, ctx.t) });
      await ctx.answerCallbackQuery({ text: ctx.t('campaign-pick-language') });
      return;
    }
    await saveSession(db, ctx.from.id, id, language);
    await ctx.answerCallbackQuery();
    await ctx.reply(ctx.t('campaign-ask-variant', { language }), { parse_mode: 'HTML', reply_markup: { force_reply: true } });
    return;
  }
  if (action === 'preview') {
    // Every variant, default first, to the admin's chat.
    const ordered = [...variants].sort((a, b) => (a.language_code === null ? -1 : b.language_code === null ? 1 : 0));
    for (const v of ordered) await sendPreview(env, config, ctx.from.id, variantFor(variants, v.language_code));
    await ctx.answerCallbackQuery({ text: ctx.t('campaign-preview-sent') });
    return;
  }
  if (action === 'card') {
    const count = snapshot.status === 'draft' ? await audienceCount(db, campaign.audience) : undefined;
    const card = campaignCard(snapshot, { title: campaign.title, languages, audience: count }, ctx.t);
    await ctx.editMessageText(card.text, { parse_mode: 'HTML', reply_markup: card.reply_markup }).catch((err: unknown) => {
      // Pressed twice: the card already shows this.
      if (!(err instanceof GrammyError && err.description.includes('message is not modified'))) throw err;
    });
    await ctx.answerCallbackQuery();
    return;
  }
  // Start, pause, resume, cancel: the campaign's object edits this card from now on.
  const card = ctx.callbackQuery.message;
  if (card) await stub.watch({ chatId: card.chat.id, messageId: card.message_id, locale: ctx.locale, title: campaign.title });
  const result = await stub.act(action, ctx.deps.log.correlationId);
  if (!result.ok) throw new DomainError('conflict', 'invalid_transition', result.reason);
  ctx.deps.log.info('campaign_transition', { campaign: id, action, status: result.snapshot.status, admin: ctx.from.id });
  await ctx.answerCallbackQuery();
}

async function replyCard(ctx: BotContext, id: string): Promise<void> {
  const { db, env } = ctx.deps;
  const { campaign, snapshot, variants } = await openCampaign(env, db, id);
  const facts = {
    title: campaign.title,
    languages: variants.map((v) => v.language_code),
    audience: await audienceCount(db, campaign.audience),
  };
  const card = campaignCard(snapshot, facts, ctx.t);
  await ctx.reply(card.text, { parse_mode: 'HTML', reply_markup: card.reply_markup });
}

/**
 * The variant a message makes: its text or media with their entities, or a copy of anything else
 * (and of a post whose spoiler, caption position or link preview a variant would not keep).
 */
export function variantOf(m: Message, languageCode: string | null): Variant {
  const media = { language_code: languageCode, caption: m.caption, caption_entities: m.caption_entities };
  if (m.has_media_spoiler || m.show_caption_above_media || m.link_preview_options)
    return { kind: 'copy', language_code: languageCode, from_chat_id: m.chat.id, message_id: m.message_id };
  if (m.text !== undefined) return { kind: 'text', language_code: languageCode, text: m.text, entities: m.entities };
  // An animation message carries a `document` too: look at the animation first.
  if (m.animation) return { kind: 'animation', file_id: m.animation.file_id, ...media };
  const photo = m.photo?.at(-1);
  if (photo) return { kind: 'photo', file_id: photo.file_id, ...media };
  if (m.video) return { kind: 'video', file_id: m.video.file_id, ...media };
  if (m.document) return { kind: 'document', file_id: m.document.file_id, ...media };
  return { kind: 'copy', language_code: languageCode, from_chat_id: m.chat.id, message_id: m.message_id };
}

/** The first line of the post, shortened; a post without text is named by its date. */
export function titleOf(m: Message): string {
  const line = (m.text ?? m.caption ?? '').split('\n')[0]?.trim() ?? '';
  if (!line) return `Post of ${new Date(m.date * 1000).toISOString().slice(0, 16).replace('T', ' ')}`;
  // Cut between characters, never inside one (an emoji is two UTF-16 units).
  const chars = Array.from(line);
  return chars.length > TITLE_LENGTH ? `${chars.slice(0, TITLE_LENGTH - 1).join('')}…` : line;
}
