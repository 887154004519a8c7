import type { Variant } from './content';

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
