import { InlineKeyboard } from 'grammy';
import type { InlineKeyboardMarkup } from 'grammy/types';
import type { Snapshot } from '../../durable-objects/campaign/campaign.engine';
import type { Translate } from '../bot/i18n';
import { escapeHtml } from '../core/telegram';
import { type Action, allowedActions } from './lifecycle';

/** Callback data of the campaign card's buttons: `cmp:<action>:<campaign id>[:<language>]` (<= 64 bytes). */
export const CALLBACK =
  /^cmp:(lang|preview|start|pause|resume|cancel|card):([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?::([a-z-]{2,16}))?$/;
export type CardAction = 'lang' | 'preview' | Action | 'card';

/** Languages offered for a new variant, besides the ones the draft has. */
const OFFERED_LANGUAGES = ['en', 'ru', 'uk', 'de', 'es', 'fr', 'it', 'pt', 'tr', 'pl', 'kk', 'uz', 'ar', 'fa', 'id'];

export interface CardFacts {
  title: string;
  /** Language codes of the variants, null for the default. */
  languages: (string | null)[];
  /** Active users of the audience, shown for a draft (the count is fixed when it starts). */
  audience?: number;
}

const BAR_CELLS = 10;

/** The campaign card: a status message with a progress bar and the buttons its status allows. */
export function campaignCard(s: Snapshot, facts: CardFacts, t: Translate): { text: string; reply_markup: InlineKeyboardMarkup } {
  const done = s.sent + s.failed + s.blocked + s.unknown;
  const share = s.total ? Math.min(1, done / s.total) : s.status === 'completed' ? 1 : 0;
  const filled = Math.round(share * BAR_CELLS);
  const languages = facts.languages.map((l) => l ?? t('campaign-variant-default')).join(', ');
  const lines = [
    `📣 <b>${escapeHtml(facts.title)}</b>`,
    t(`campaign-status-${s.status}`, { at: s.scheduled_at ? `${s.scheduled_at.slice(0, 16).replace('T', ' ')} UTC` : '' }),
  ];
  if (s.status === 'draft') {
    if (facts.audience !== undefined) lines.push(t('campaign-audience', { count: facts.audience }));
  } else {
    lines.push(`${'▓'.repeat(filled)}${'░'.repeat(BAR_CELLS - filled)} ${Math.floor(share * 100)}%`);
    lines.push(
      t('campaign-counters', {
        sent: s.sent,
        failed: s.failed,
        blocked: s.blocked,
        unknown: s.unknown,
        pending: s.pending,
        total: s.total,
      }),
    );
  }
  lines.push(t('campaign-variants', { languages }));
  lines.push(t(s.paid_broadcast ? 'campaign-rate-paid' : 'campaign-rate', { rate: s.rate_per_second }));
  return { text: lines.join('\n'), reply_markup: cardButtons(s, t) };
}

function cardButtons(s: Snapshot, t: Translate): InlineKeyboardMarkup {
  const k = new InlineKeyboard();
  const data = (action: CardAction) => `cmp:${action}:${s.id}`;
  // Content can change only in a draft; the lifecycle says which actions the status allows.
  if (s.status === 'draft') k.text(t('btn-add-language'), data('lang')).text(t('btn-preview'), data('preview')).row();
  for (const action of allowedActions(s.status)) k.text(t(`btn-${action}`), data(action));
  return k;
}

/** The language picker that replaces the card's buttons after "Add language". */
export function languagePicker(id: string, have: (string | null)[], t: Translate): InlineKeyboardMarkup {
  const k = new InlineKeyboard();
  OFFERED_LANGUAGES.filter((l) => !have.includes(l)).forEach((l, i) => {
    k.text(l, `cmp:lang:${id}:${l}`);
    if (i % 5 === 4) k.row();
  });
  return k.row().text(t('btn-back'), `cmp:card:${id}`);
}
