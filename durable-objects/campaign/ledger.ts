/**
 * The campaign's per-recipient ledger in the Durable Object's SQLite: one row per user the campaign
 * has claimed. A row is written before the send leaves and never removed once the send may have left,
 * so each user gets the campaign at most once, across redeliveries, crashes and restarts.
 *
 *   ledger(user_id, status, batch, claimed_at, reason)   status: claimed | sent | failed | blocked | unknown
 *   returned(user_id, lang, not_before)                  recipients to hand out again (pause, retryable errors)
 *   batches(id, drained, done)                           queue messages of recipients: drained once every
 *                                                        recipient got a slot or was set aside, done when reported
 */
export type Outcome = 'sent' | 'failed' | 'blocked' | 'unknown';
export type LedgerStatus = 'claimed' | Outcome;

export interface Recipient {
  /** Telegram chat id. */
  id: number;
  lang: string | null;
}

export class Ledger {
  readonly #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
    sql.exec(`create table if not exists ledger (user_id integer primary key, status text not null, batch text not null,
                claimed_at integer not null, reason text)`);
    sql.exec('create table if not exists returned (user_id integer primary key, lang text, not_before integer not null)');
    sql.exec(
      'create table if not exists batches (id text primary key, drained integer not null default 0, done integer not null default 0)',
    );
  }

  status(userId: number): { status: LedgerStatus; claimedAt: number } | undefined {
    const row = this.#sql
      .exec<{ status: LedgerStatus; claimed_at: number }>('select status, claimed_at from ledger where user_id = ?', userId)
      .toArray()[0];
    return row ? { status: row.status, claimedAt: row.claimed_at } : undefined;
  }

  claim(userId: number, batch: string, now: number): void {
    this.#sql.exec("insert into ledger (user_id, status, batch, claimed_at) values (?, 'claimed', ?, ?)", userId, batch, now);
  }

  /** Forgets a claim whose send never left (no slot, paused, retryable error before sending). */
  release(userId: number): void {
    this.#sql.exec("delete from ledger where user_id = ? and status = 'claimed'", userId);
  }

  /** Records an outcome; false when the row was not a live claim (a late or repeated report). */
  settle(userId: number, outcome: Outcome, reason: string | undefined): boolean {
    const cursor = this.#sql.exec(
      "update ledger set status = ?, reason = ? where user_id = ? and status = 'claimed'",
      outcome,
      reason ?? null,
      userId,
    );
    return cursor.rowsWritten > 0;
  }

  /** Claims older than `before` (epoch ms): their sender never reported. */
  staleClaims(before: number): number[] {
    return this.#sql
      .exec<{ user_id: number }>("select user_id from ledger where status = 'claimed' and claimed_at < ?", before)
      .toArray()
      .map((r) => r.user_id);
  }

  /** Epoch ms of the oldest claim not yet reported, or null. */
  oldestClaim(): number | null {
    return this.#sql.exec<{ at: number | null }>("select min(claimed_at) as at from ledger where status = 'claimed'").one().at;
  }

  liveClaims(): number {
    return this.#sql.exec<{ n: number }>("select count(*) as n from ledger where status = 'claimed'").one().n;
  }

  putReturned(recipient: Recipient, notBefore: number): void {
    this.#sql.exec('insert or replace into returned (user_id, lang, not_before) values (?, ?, ?)', recipient.id, recipient.lang, notBefore);
  }

  /** Returned recipients due by `now`, oldest first. */
  dueReturned(now: number, limit: number): Recipient[] {
    return this.#sql
      .exec<{ user_id: number; lang: string | null }>(
        'select user_id, lang from returned where not_before <= ? order by not_before limit ?',
        now,
        limit,
      )
      .toArray()
      .map((r) => ({ id: r.user_id, lang: r.lang }));
  }

  takeReturned(userId: number): void {
    this.#sql.exec('delete from returned where user_id = ?', userId);
  }

  returnedCount(): { count: number; nextDue: number | null } {
    const row = this.#sql.exec<{ n: number; next: number | null }>('select count(*) as n, min(not_before) as next from returned').one();
    return { count: row.n, nextDue: row.next };
  }

  clearReturned(): void {
    this.#sql.exec('delete from returned');
  }

  /** Records a queue message of recipients; false if it was recorded before. */
  addBatch(id: string): boolean {
    return this.#sql.exec('insert or ignore into batches (id) values (?)', id).rowsWritten > 0;
  }

  /** Marks a batch done (and drained); true the first time only. */
  finishBatch(id: string): boolean {
    return this.#sql.exec('update batches set done = 1, drained = 1 where id = ? and done = 0', id).rowsWritten > 0;
  }

  /** Every recipient of the batch has a slot or was set aside; its sender is finishing. */
  drainBatch(id: string): void {
    this.#sql.exec('update batches set drained = 1 where id = ?', id);
  }

  /** Batches whose recipients still wait for slots: the loader keeps this number bounded. */
  batchesUndrained(): number {
    return this.#sql.exec<{ n: number }>('select count(*) as n from batches where drained = 0').one().n;
  }

  /** Batches not reported done. */
  batchesInFlight(): number {
    return this.#sql.exec<{ n: number }>('select count(*) as n from batches where done = 0').one().n;
  }
}
