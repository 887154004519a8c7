import { DurableObject } from 'cloudflare:workers';
import { getConfig } from '../../workers/core/config';
import { createLogger, type Logger } from '../../workers/core/logger';
import { Outbound } from '../../workers/telegram/outbound';
import { AlertOutbox, type Digest } from './outbox';

/** An incident ends after an hour without a new occurrence; the next one opens a new incident. */
export const INCIDENT_QUIET_MS = 3600_000;
/** Incidents are forgotten a day after their last occurrence. */
const KEEP_MS = 24 * INCIDENT_QUIET_MS;

export type Severity = 'warning' | 'critical';
const rank: Record<Severity, number> = { warning: 1, critical: 2 };

/** What the ledger decided about one occurrence. */
export interface Occurrence {
  /** Tell the admins: a new incident, or one whose severity went up (`escalated`). */
  alert: boolean;
  escalated: boolean;
  occurrences: number;
  /** The incident's severity after this occurrence. */
  severity: Severity;
}

export interface IncidentView {
  key: string;
  severity: Severity;
  summary: string | null;
  openedAt: number;
  lastAt: number;
  occurrences: number;
  /** When it was resolved; null while open (or until it went quiet). */
  resolvedAt: number | null;
}

/**
 * The ledger of incidents (one object, `INCIDENTS.idFromName('incidents')`): every failure is reported
 * with a key that names its cause (`outage:remnawave` for every job a panel outage kills, or the task
 * and its error), and only the first occurrence is alerted, then once more if its severity rises from
 * WARNING to CRITICAL, and once when it is resolved. It lives in a Durable Object rather than Postgres
 * because the failures it counts are often Postgres's own.
 *
 * It is also the outbox of every message to the admins (`AlertOutbox`): an alert is stored in the same
 * step that decides it and delivered by the object's alarm through the outbound path, ahead of
 * broadcasts, again after a 429 or while Telegram is unreachable, until Telegram has it.
 *
 * Storage (SQLite): `incidents(key primary key, severity, summary, opened_at, last_at, occurrences,
 * resolved_at)`, times in ms since the epoch; rows go a day after their last occurrence. The outbox:
 * see `outbox.ts`.
 */
export class IncidentObject extends DurableObject<Env> {
  readonly #outbox: AlertOutbox;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#outbox = new AlertOutbox(ctx.storage.sql);
    const sql = ctx.storage.sql;
    sql.exec(`create table if not exists incidents (
      key text primary key, opened_at integer not null, last_at integer not null, occurrences integer not null)`);
    // Columns added after the first deploy: an object created by it has the table without them.
    const columns = new Set(
      sql
        .exec<{ name: string }>('select name from pragma_table_info(?)', 'incidents')
        .toArray()
        .map((c) => c.name),
    );
    if (!columns.has('severity')) sql.exec(`alter table incidents add column severity text not null default 'critical'`);
    if (!columns.has('summary')) sql.exec('alter table incidents add column summary text');
    if (!columns.has('resolved_at')) sql.exec('alter table incidents add column resolved_at integer');
  }

  /**
   * Counts an occurrence of `key`. `alert` is true when it opens an incident (none open, the last one
   * resolved, or quiet for an hour) or raises an open one's severity.
   */
  /** Queues a message to `chatIds` (HTML); the alarm delivers it. */
  async alert(chatIds: number[], text: string): Promise<void> {
    if (!chatIds.length) return;
    this.#outbox.add(chatIds, text, Date.now());
    await this.#wakeAt(Date.now());
  }

  /**
   * Counts an occurrence of `key` (see `count`); when it is to be alerted and `alert` is given, the
   * message is queued for those chats in the same step, so an alert decided is never lost.
   */
  async report(
    key: string,
    now = Date.now(),
    severity: Severity = 'critical',
    summary?: string,
    alert?: { chatIds: number[]; texts: Record<'new' | 'escalated', string> },
  ): Promise<Occurrence> {
    const o = this.count(key, now, severity, summary);
    if (o.alert && alert?.chatIds.length) {
      this.#outbox.add(alert.chatIds, alert.texts[o.escalated ? 'escalated' : 'new'], now);
      await this.#wakeAt(now);
    }
    return o;
  }

  /** The ledger's decision about one occurrence of `key`. */
  count(key: string, now = Date.now(), severity: Severity = 'critical', summary?: string): Occurrence {
    const sql = this.ctx.storage.sql;
    sql.exec('delete from incidents where last_at < ?', now - KEEP_MS);
    const row = sql
      .exec<{ last_at: number; occurrences: number; severity: Severity; resolved_at: number | null }>(
        'select last_at, occurrences, severity, resolved_at from incidents where key = ?',
        key,
      )
      .toArray()[0];
    if (!row || row.resolved_at !== null || now - row.last_at > INCIDENT_QUIET_MS) {
      sql.exec(
        `insert into incidents (key, severity, summary, opened_at, last_at, occurrences, resolved_at) values (?, ?, ?, ?, ?, 1, null)
         on conflict (key) do update set severity = excluded.severity, summary = excluded.summary, opened_at = excluded.opened_at,
           last_at = excluded.last_at, occurrences = 1, resolved_at = null`,
        key,
        severity,
        summary ?? null,
        now,
        now,
      );
      return { alert: true, escalated: false, occurrences: 1, severity };
    }
    const escalated = rank[severity] > rank[row.severity];
    const current = escalated ? severity : row.severity;
    sql.exec(
      'update incidents set last_at = ?, occurrences = occurrences + 1, severity = ?, summary = coalesce(?, summary) where key = ?',
      now,
      current,
      escalated ? (summary ?? null) : null,
      key,
    );
    return { alert: escalated, escalated, occurrences: row.occurrences + 1, severity: current };
  }

  /**
   * Resolves the open incident of `key` if its last occurrence is at least `quietMs` old. Returns it
   * when this call resolved it (tell the admins once), else null.
   */
  async resolve(key: string, now = Date.now(), quietMs = 0, alert?: { chatIds: number[]; what: string }): Promise<IncidentView | null> {
    const sql = this.ctx.storage.sql;
    const row = this.#rows('where key = ? and resolved_at is null', key)[0];
    if (!row || now - row.lastAt > INCIDENT_QUIET_MS || now - row.lastAt < quietMs) return null;
    sql.exec('update incidents set resolved_at = ? where key = ?', now, key);
    if (alert?.chatIds.length) {
      const minutes = Math.max(1, Math.round((now - row.openedAt) / 60_000));
      this.#outbox.add(alert.chatIds, `✅ Resolved: ${alert.what} after ${minutes} min (${row.occurrences} failure(s) counted)`, now);
      await this.#wakeAt(now);
    }
    return { ...row, resolvedAt: now };
  }

  /** Messages to the admins not delivered yet (for the console and tests). */
  async outboxPending(): Promise<number> {
    return this.#outbox.pending();
  }

  /** Delivers what is due: one digest per admin chat, through the outbound path (a transactional slot). */
  override async alarm(): Promise<void> {
    const log = createLogger('incidents', { object: 'incidents' });
    const outbound = new Outbound(getConfig(this.env), this.env);
    const now = Date.now();
    try {
      await Promise.all(this.#outbox.due(now).map((d) => this.#deliver(outbound, d, log)));
    } finally {
      // Whatever failed, the outbox wakes again for what is left (an alarm is retried only a few times).
      const next = this.#outbox.nextAt();
      if (next !== null) await this.#wakeAt(next);
    }
  }

  async #deliver(outbound: Outbound, d: Digest, log: Logger): Promise<void> {
    const outcome = await outbound.send('sendMessage', { chat_id: d.chatId, text: d.text, parse_mode: 'HTML' });
    if (outcome.kind === 'ok') {
      this.#outbox.done(d.ids);
      this.#outbox.spaceChat(d.chatId, Date.now());
    } else if (outcome.kind === 'retry_after' || outcome.kind === 'retryable') {
      const dropped = this.#outbox.later(d.ids, Date.now(), outcome.kind === 'retry_after' ? outcome.until : undefined);
      log.warn('admin_alert_delayed', { chat_id: d.chatId, messages: d.ids.length, reason: outcome.reason, dropped });
    } else if (outcome.kind === 'permanent' && d.ids.length > 1) {
      // One of them is refused (bad markup, too long): the others must not go with it.
      this.#outbox.split(d.ids);
      log.warn('admin_alert_digest_split', { chat_id: d.chatId, messages: d.ids.length, reason: outcome.reason });
    } else {
      // Refused for good (the admin blocked the bot, bad markup), or it may have arrived: not sent again.
      this.#outbox.done(d.ids);
      log.error('admin_alert_not_delivered', {
        chat_id: d.chatId,
        messages: d.ids.length,
        outcome: outcome.kind,
        reason: outcome.reason,
      });
    }
  }

  async #wakeAt(at: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
  }

  /** The incidents of the last day, latest first (for the console). */
  recent(limit = 20): IncidentView[] {
    return this.#rows('order by last_at desc limit ?', limit);
  }

  #rows(clause: string, ...bindings: (string | number)[]): IncidentView[] {
    return this.ctx.storage.sql
      .exec<{
        key: string;
        severity: Severity;
        summary: string | null;
        opened_at: number;
        last_at: number;
        occurrences: number;
        resolved_at: number | null;
      }>(`select key, severity, summary, opened_at, last_at, occurrences, resolved_at from incidents ${clause}`, ...bindings)
      .toArray()
      .map((r) => ({
        key: r.key,
        severity: r.severity,
        summary: r.summary,
        openedAt: r.opened_at,
        lastAt: r.last_at,
        occurrences: r.occurrences,
        resolvedAt: r.resolved_at,
      }));
  }
}

export function incidents(env: Env): DurableObjectStub<IncidentObject> {
  return env.INCIDENTS.get(env.INCIDENTS.idFromName('incidents'));
}
