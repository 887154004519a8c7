import { z } from 'zod';

/** Telegram's limits, in UTF-16 code units after entity parsing. */
const MAX_TEXT = 4096;
const MAX_CAPTION = 1024;

const languageCode = z.string().min(2).max(16).nullable();
const parseMode = z.enum(['HTML', 'MarkdownV2']).optional();
const entity = z.looseObject({ type: z.string(), offset: z.number().int().min(0), length: z.number().int().min(1) });

const textInput = z
  .object({ language_code: languageCode, text: z.string().min(1), parse_mode: parseMode, entities: z.array(entity).optional() })
  .strict();
const copyInput = z
  .object({
    language_code: languageCode,
    copy: z.object({ from_chat_id: z.number().int(), message_id: z.number().int().positive().max(2_147_483_647) }).strict(),
  })
  .strict();
const mediaFields = {
  language_code: languageCode,
  caption: z.string().optional(),
  parse_mode: parseMode,
  caption_entities: z.array(entity).optional(),
};
const photoInput = z.object({ ...mediaFields, photo: z.string().min(1) }).strict();
const videoInput = z.object({ ...mediaFields, video: z.string().min(1) }).strict();
const documentInput = z.object({ ...mediaFields, document: z.string().min(1) }).strict();
const animationInput = z.object({ ...mediaFields, animation: z.string().min(1) }).strict();

/** A message variant as the admin API takes it. */
export const messageInputSchema = z.union([textInput, copyInput, photoInput, videoInput, documentInput, animationInput]);
export type MessageInput = z.infer<typeof messageInputSchema>;

type MediaKind = 'photo' | 'video' | 'document' | 'animation';
/** Telegram message entities; fields besides these are kept as they are. */
type Entities = { type: string; offset: number; length: number }[];

/** A message variant as campaigns store and send it. */
export type Variant =
  | { kind: 'text'; language_code: string | null; text: string; parse_mode?: 'HTML' | 'MarkdownV2'; entities?: Entities }
  | { kind: 'copy'; language_code: string | null; from_chat_id: number; message_id: number }
  | {
      kind: MediaKind;
      language_code: string | null;
      file_id: string;
      caption?: string;
      parse_mode?: 'HTML' | 'MarkdownV2';
      caption_entities?: Entities;
    };

export function toVariant(input: MessageInput): Variant {
  if ('text' in input) return { kind: 'text', ...input };
  if ('copy' in input) return { kind: 'copy', language_code: input.language_code, ...input.copy };
  const { language_code, caption, parse_mode, caption_entities } = input;
  const media = { language_code, caption, parse_mode, caption_entities };
  if ('photo' in input) return { kind: 'photo', file_id: input.photo, ...media };
  if ('video' in input) return { kind: 'video', file_id: input.video, ...media };
  if ('document' in input) return { kind: 'document', file_id: input.document, ...media };
  return { kind: 'animation', file_id: input.animation, ...media };
}

/** Length as Telegram counts it: HTML tags do not count, entities count once. */
export function visibleLength(text: string, mode: 'HTML' | 'MarkdownV2' | undefined): number {
  if (mode !== 'HTML') return text.length;
  return text.replace(/<[^>]*>/g, '').replace(/&(lt|gt|amp|quot|#\d+|#x[0-9a-f]+);/gi, '_').length;
}

/**
 * Problems that would make Telegram refuse the content, each with the field it concerns:
 * one default variant (language_code null) and at most one per language; text <= 4096, caption <= 1024.
 */
export function contentProblems(variants: Variant[]): { field: string; message: string }[] {
  const problems: { field: string; message: string }[] = [];
  const seen = new Set<string>();
  variants.forEach((v, i) => {
    const key = v.language_code ?? '';
    if (seen.has(key))
      problems.push({ field: `messages.${i}.language_code`, message: `a second variant for ${v.language_code ?? 'the default'}` });
    seen.add(key);
    if (v.kind === 'text' && visibleLength(v.text, v.parse_mode) > MAX_TEXT)
      problems.push({ field: `messages.${i}.text`, message: `longer than ${MAX_TEXT} characters` });
    if (v.kind !== 'text' && v.kind !== 'copy' && v.caption && visibleLength(v.caption, v.parse_mode) > MAX_CAPTION)
      problems.push({ field: `messages.${i}.caption`, message: `longer than ${MAX_CAPTION} characters` });
  });
  if (!seen.has('')) problems.push({ field: 'messages', message: 'needs a default variant (language_code null)' });
  return problems;
}

/** The variant for a recipient: their language, else its base (`pt` for `pt-br`), else the default. */
export function variantFor(variants: readonly Variant[], languageCode: string | null): Variant {
  const lang = languageCode?.toLowerCase();
  const base = lang?.split('-')[0];
  return (
    variants.find((v) => v.language_code !== null && v.language_code.toLowerCase() === lang) ??
    variants.find((v) => v.language_code !== null && v.language_code.toLowerCase() === base) ??
    (variants.find((v) => v.language_code === null) as Variant)
  );
}

/** The Bot API method and parameters that send `v` to `chatId`; `paid` adds `allow_paid_broadcast`. */
export function sendCall(chatId: number, v: Variant, paid: boolean): [string, Record<string, unknown>] {
  const extra = paid ? { allow_paid_broadcast: true } : {};
  switch (v.kind) {
    case 'text':
      return ['sendMessage', { chat_id: chatId, text: v.text, parse_mode: v.parse_mode, entities: v.entities, ...extra }];
    case 'copy':
      return ['copyMessage', { chat_id: chatId, from_chat_id: v.from_chat_id, message_id: v.message_id, ...extra }];
    default: {
      const method = { photo: 'sendPhoto', video: 'sendVideo', document: 'sendDocument', animation: 'sendAnimation' }[v.kind];
      const media = {
        chat_id: chatId,
        [v.kind]: v.file_id,
        caption: v.caption,
        parse_mode: v.parse_mode,
        caption_entities: v.caption_entities,
      };
      return [method, { ...media, ...extra }];
    }
  }
}
