import { GrammyError } from 'grammy';
import { translator } from '../../workers/bot/i18n';
import { campaignCard } from '../../workers/campaigns/campaign-view';
import { getConfig } from '../../workers/core/config';
import type { Logger } from '../../workers/core/logger';
import { errorMessage } from '../../workers/core/logger';
import { botApi } from '../../workers/telegram/outbound';
import type { Snapshot } from './campaign.engine';

/** A status message in an admin's chat that shows the campaign's progress, edited in place. */
export interface Watcher {
  chatId: number;
  messageId: number;
  locale: string;
  title: string;
  /** The text it shows now. */
  shown?: string;
}

/**
 * Edits the status messages that show something else than the campaign now. Returns the watchers to
 * keep (a message Telegram refuses for good is dropped) and whether an edit failed for now.
 */
export async function editCards(
  env: Env,
  watchers: Watcher[],
  snapshot: Snapshot,
  languages: (string | null)[],
  log: Logger,
): Promise<{ kept: Watcher[]; behind: boolean; edits: number }> {
  const api = botApi(getConfig(env), env);
  const kept: Watcher[] = [];
  let behind = false;
  let edits = 0;
  for (const w of watchers) {
    const card = campaignCard(snapshot, { title: w.title, languages }, translator(w.locale));
    if (card.text === w.shown) {
      kept.push(w);
      continue;
    }
    try {
      // An edit is a message of the bot: it takes a slot of the bot-wide budget first.
      edits++;
      await api.editMessageText(w.chatId, w.messageId, card.text, { parse_mode: 'HTML', reply_markup: card.reply_markup });
      kept.push({ ...w, shown: card.text });
    } catch (err) {
      if (err instanceof GrammyError && err.description.includes('message is not modified')) kept.push({ ...w, shown: card.text });
      else if (err instanceof GrammyError && err.error_code >= 400 && err.error_code < 429) {
        // The message or chat is gone, or Telegram refuses the edit for good: stop showing progress there.
        log.warn('campaign_progress_dropped', { chat_id: w.chatId, error: err.description });
      } else {
        log.warn('campaign_progress_edit_failed', { chat_id: w.chatId, error: errorMessage(err) });
        kept.push(w);
        behind = true;
      }
    }
  }
  return { kept, behind, edits };
}
