/**
 * Messages to the admins waiting to be delivered, in the incident ledger's SQLite: an alert is
 * recorded here in the same step that decides it, and leaves only once Telegram has taken it (or
 * refused it for good, or its outcome cannot be known). Messages due for one chat go as one digest,
 * so a burst of incidents reaches an admin as one message naming them all, within the chat's limit.
 *
 *   outbox(id, chat_id, text, created_at, next_at, tries, alone)
 *
 * `alone`: the message goes by itself, never in a digest (a digest it was in was refused for good:
 * each of its messages is tried alone, so one bad message does not take the others with it).
 */
type SqlValue = string | number | null;
interface SqlPort {
  exec(query: string, ...bindings: SqlValue[]): { toArray(): Record<string, SqlValue>[] };
}

/** Telegram's limit for one message is 4,096 characters; a digest stays under it. */
const DIGEST_CHARS = 3800;
/** Waits before trying a message again after a failure that surely did not send it, in seconds. */
const BACKOFF_SECONDS = [5, 30, 120, 600, 1800];
/** Between two messages to one chat, in ms. */
const PER_CHAT_MS = 1_000;
/** A message not delivered within a day is dropped (and logged by the caller). */
const GIVE_UP_MS = 24 * 3600_000;

export interface Digest {
  chatId: number;
  ids: number[];
  text: string;
  tries: number;
}

export class AlertOutbox {
  readonly #sql: SqlPort;

  constructor(sql: SqlPort) {
    this.#sql = sql;
    sql.exec(`create table if not exists outbox (id integer primary key autoincrement, chat_id integer not null, text text not null,
      created_at integer not null, next_at integer not null, tries integer not null default 0)`);
    sql.exec('create index if not exists outbox_due on outbox (next_at)');
    const columns = sql.exec("select name from pragma_table_info('outbox')").toArray();
    if (!columns.some((c) => c.name === 'alone')) sql.exec('alter table outbox add column alone integer not null default 0');
  }

  /** Queues `text` for each chat; a text over one message (a weekly report of many nodes) goes as several, cut between lines. */
  add(chatIds: readonly number[], text: string, now: number): void {
    for (const chatId of chatIds)
      for (const part of parts(text))
        this.#sql.exec('insert into outbox (chat_id, text, created_at, next_at) values (?, ?, ?, ?)', chatId, part, now, now);
  }

  /** What is due by `now`, one digest per chat (oldest first, as many as fit in one message). */
  due(now: number): Digest[] {
    const rows = this.#sql
      .exec('select id, chat_id, text, tries, alone from outbox where next_at <= ? order by id limit 200', now)
      .toArray() as {
      id: number;
      chat_id: number;
      text: string;
      tries: number;
      alone: number;
    }[];
    const byChat = new Map<number | string, Digest>();
    for (const r of rows) {
      const key = r.alone ? `alone:${r.id}` : r.chat_id;
      const d = byChat.get(key);
      if (!d) byChat.set(key, { chatId: r.chat_id, ids: [r.id], text: r.text, tries: r.tries });
      else if (d.text.length + r.text.length + 2 <= DIGEST_CHARS) {
        d.ids.push(r.id);
        d.text += `\n\n${r.text}`;
        d.tries = Math.max(d.tries, r.tries);
      }
    }
    return [...byChat.values()];
  }

  /**
   * After a message to `chatId`: its next waits `PER_CHAT_MS` (Telegram takes about one message a
   * second per chat; a 429 there would hold every send of the bot).
   */
  spaceChat(chatId: number, now: number): void {
    this.#sql.exec('update outbox set next_at = max(next_at, ?) where chat_id = ?', now + PER_CHAT_MS, chatId);
  }

  /** A digest refused for good: each of its messages goes again by itself, at once. */
  split(ids: readonly number[]): void {
    for (const id of ids) this.#sql.exec('update outbox set alone = 1 where id = ?', id);
  }

  /** Delivered, refused for good, or maybe delivered: gone. */
  done(ids: readonly number[]): void {
    for (const id of ids) this.#sql.exec('delete from outbox where id = ?', id);
  }

  /** Not sent: try again at `at`, or after the next backoff step. Returns how many were given up (a day old). */
  later(ids: readonly number[], now: number, at?: number): number {
    let dropped = 0;
    for (const id of ids) {
      const row = this.#sql.exec('select created_at, tries from outbox where id = ?', id).toArray()[0] as
        | { created_at: number; tries: number }
        | undefined;
      if (!row) continue;
      if (now - row.created_at > GIVE_UP_MS) {
        this.#sql.exec('delete from outbox where id = ?', id);
        dropped++;
        continue;
      }
      const wait = BACKOFF_SECONDS[Math.min(row.tries, BACKOFF_SECONDS.length - 1)] as number;
      this.#sql.exec('update outbox set tries = tries + 1, next_at = ? where id = ?', Math.max(at ?? 0, now + wait * 1000), id);
    }
    return dropped;
  }

  /** When the next message comes due, or null when nothing waits. */
  nextAt(): number | null {
    const row = this.#sql.exec('select next_at from outbox order by next_at limit 1').toArray()[0] as { next_at: number } | undefined;
    return row?.next_at ?? null;
  }

  pending(): number {
    return (this.#sql.exec('select count(*) as n from outbox').toArray()[0] as { n: number }).n;
  }
}

/**
 * `text` in pieces of at most `DIGEST_CHARS`, cut between lines: the alerts and reports open and close
 * their markup within a line. A single line longer than that is cut where it reaches it.
 */
function parts(text: string): string[] {
  if (text.length <= DIGEST_CHARS) return [text];
  const out: string[] = [];
  let current = '';
  for (const line of text.split('\n')) {
    for (let rest = line; ; ) {
      const room = DIGEST_CHARS - (current ? current.length + 1 : 0);
      if (rest.length <= room) {
        current = current ? `${current}\n${rest}` : rest;
        break;
      }
      if (current) {
        out.push(current);
        current = '';
        continue;
      }
      out.push(rest.slice(0, DIGEST_CHARS));
      rest = rest.slice(DIGEST_CHARS);
    }
  }
  if (current) out.push(current);
  return out;
}
