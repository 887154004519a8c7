/**
 * The campaign's per-recipient ledger in the Durable Object's SQLite: one row per user the campaign
 * has claimed. A row is written before the send leaves and never removed once the send may have left,
 * so each user gets the campaign at most once, across redeliveries, crashes and restarts.
 *
 *   ledger(user_id, status, batch, claimed_at, reason)   status: claimed | sent | failed | blocked | unknown
 *   returned(user_id, lang, not_before)                  recipients to hand out again (pause, long 429, lost batch)
 *   batches(id, drained, done, recipients, touched_at)   queue messages of recipients: drained once every
 *                                                        recipient got a slot or was set aside, done when
 *                                                        reported; `recipients` is the message's packed list,
 *                                                        kept to settle a message that never reports
 *
 * Every query a step of the loader or an exchange makes reads a bounded number of rows — one per
 * recipient it touches, or the live part of an index (claims in flight, batches out) — so the rows
 * read per recipient stay flat however large the audience. The counters of rows read and written
 * are the Durable Object's bill (SQLite rows are priced), reported in the campaign's usage.
 */
export type Outcome = 'sent' | 'failed' | 'blocked' | 'unknown';
export type LedgerStatus = 'claimed' | Outcome;

export interface Recipient {
  /** Telegram chat id. */
  id: number;
  lang: string | null;
}

type SqlValue = string | number | null | ArrayBuffer | Uint8Array;

/** The part of `SqlStorage` the ledger uses, so it also runs over an in-memory SQLite in plain tests. */
export interface SqlPort {
  exec(
    query: string,
    ...bindings: SqlValue[]
  ): { toArray(): Record<string, SqlValue>[]; readonly rowsRead: number; readonly rowsWritten: number };
}

const TABLES = [
  `create table if not exists ledger (user_id integer primary key, status text not null, batch text not null,
     claimed_at integer not null, reason text)`,
  'create table if not exists returned (user_id integer primary key, lang text, not_before integer not null)',
  `create table if not exists batches (id text primary key, drained integer not null default 0, done integer not null default 0,
     recipients blob, touched_at integer not null default 0)`,
];
const INDEXES = [
  // Only live claims are indexed: the queries about claims in flight never touch settled rows.
  "create index if not exists ledger_claims on ledger (claimed_at) where status = 'claimed'",
  'create index if not exists returned_due on returned (not_before)',
  'create index if not exists batches_undrained on batches (id) where drained = 0',
  'create index if not exists batches_open on batches (touched_at) where done = 0',
];

export class Ledger {
  readonly #sql: SqlPort;
  /** SQLite rows read and written by this instance (the caller adds them to the campaign's usage). */
  rowsRead = 0;
  rowsWritten = 0;
  /** Live claims: counted once per instance, then kept by `claim`, `release` and `settle`. */
  #live: number | undefined;

  constructor(sql: SqlPort) {
    this.#sql = sql;
    for (const statement of TABLES) sql.exec(statement);
    // Objects made before batches kept their recipients get the two columns.
    const columns = sql.exec("select name from pragma_table_info('batches')").toArray();
    if (!columns.some((c) => c.name === 'touched_at')) {
      sql.exec('alter table batches add column recipients blob');
      sql.exec('alter table batches add column touched_at integer not null default 0');
    }
    for (const statement of INDEXES) sql.exec(statement);
  }

  #exec<T extends Record<string, SqlValue>>(query: string, ...bindings: SqlValue[]): { rows: T[]; written: number } {
    const cursor = this.#sql.exec(query, ...bindings);
    const rows = cursor.toArray() as T[];
    this.rowsRead += cursor.rowsRead;
    this.rowsWritten += cursor.rowsWritten;
    return { rows, written: cursor.rowsWritten };
  }

  /** Takes the row counters since the last call. */
  takeRowCounts(): { read: number; written: number } {
    const counts = { read: this.rowsRead, written: this.rowsWritten };
    this.rowsRead = 0;
    this.rowsWritten = 0;
    return counts;
  }

  status(userId: number): { status: LedgerStatus; claimedAt: number; batch: string } | undefined {
    const row = this.#exec<{ status: LedgerStatus; claimed_at: number; batch: string }>(
      'select status, claimed_at, batch from ledger where user_id = ?',
      userId,
    ).rows[0];
    return row ? { status: row.status, claimedAt: row.claimed_at, batch: row.batch } : undefined;
  }

  /** Claims a recipient for a send; false when the ledger has it already. */
  claim(userId: number, batch: string, now: number): boolean {
    const { written } = this.#exec(
      "insert or ignore into ledger (user_id, status, batch, claimed_at) values (?, 'claimed', ?, ?)",
      userId,
      batch,
      now,
    );
    if (written > 0 && this.#live !== undefined) this.#live++;
    return written > 0;
  }

  /** Forgets a claim whose send never left (no slot, paused, a void or stale slot, a 429). */
  release(userId: number): void {
    // One row at most (rows written also count its index entries).
    const { written } = this.#exec("delete from ledger where user_id = ? and status = 'claimed'", userId);
    if (this.#live !== undefined && written > 0) this.#live--;
  }

  /** Records an outcome; false when the row was not a live claim (a late or repeated report). */
  settle(userId: number, outcome: Outcome, reason: string | undefined): boolean {
    const { written } = this.#exec(
      "update ledger set status = ?, reason = ? where user_id = ? and status = 'claimed'",
      outcome,
      reason ?? null,
      userId,
    );
    if (this.#live !== undefined && written > 0) this.#live--;
    return written > 0;
  }

  /** Claims older than `before` (epoch ms): their sender never reported. */
  staleClaims(before: number): number[] {
    return this.#exec<{ user_id: number }>("select user_id from ledger where status = 'claimed' and claimed_at < ?", before).rows.map(
      (r) => r.user_id,
    );
  }

  /** Epoch ms of the oldest claim not yet reported, or null. */
  oldestClaim(): number | null {
    const row = this.#exec<{ claimed_at: number }>("select claimed_at from ledger where status = 'claimed' order by claimed_at limit 1")
      .rows[0];
    return row?.claimed_at ?? null;
  }

  /** Claims not yet reported (each send on the wire, or about to be): no rows read after the first call. */
  liveClaims(): number {
    this.#live ??= this.#exec<{ n: number }>("select count(*) as n from ledger where status = 'claimed'").rows[0]?.n ?? 0;
    return this.#live;
  }

  putReturned(recipient: Recipient, notBefore: number): void {
    this.#exec('insert or replace into returned (user_id, lang, not_before) values (?, ?, ?)', recipient.id, recipient.lang, notBefore);
  }

  /** Returned recipients due by `now`, oldest first. */
  dueReturned(now: number, limit: number): Recipient[] {
    return this.#exec<{ user_id: number; lang: string | null }>(
      'select user_id, lang from returned where not_before <= ? order by not_before limit ?',
      now,
      limit,
    ).rows.map((r) => ({ id: r.user_id, lang: r.lang }));
  }

  takeReturned(userId: number): void {
    this.#exec('delete from returned where user_id = ?', userId);
  }

  /** Whether any recipient waits in `returned`, and when the first comes due. */
  nextReturned(): number | null {
    return this.#exec<{ not_before: number }>('select not_before from returned order by not_before limit 1').rows[0]?.not_before ?? null;
  }

  clearReturned(): void {
    this.#exec('delete from returned');
  }

  /** Records a queue message of recipients (and what it holds); false if it was recorded before. */
  addBatch(id: string, recipients: Uint8Array, now: number): boolean {
    return this.#exec('insert or ignore into batches (id, recipients, touched_at) values (?, ?, ?)', id, recipients, now).written > 0;
  }

  /** Forgets a batch that was never sent (its `sendBatch` failed): its id is free for the next one. */
  dropBatch(id: string): void {
    this.#exec('delete from batches where id = ?', id);
  }

  /** Marks a batch done (and drained); true the first time only. */
  finishBatch(id: string): boolean {
    return this.#exec('update batches set done = 1, drained = 1 where id = ? and done = 0', id).written > 0;
  }

  /** Whether the batch was reported done (by one of its message's deliveries, or settled). */
  batchDone(id: string): boolean {
    return this.#exec<{ done: number }>('select done from batches where id = ?', id).rows[0]?.done === 1;
  }

  /** Every recipient of the batch has a slot or was set aside; its sender is finishing. */
  drainBatch(id: string): void {
    this.#exec('update batches set drained = 1 where id = ? and drained = 0', id);
  }

  /** A sign of life of a batch's sender: the batch's deadline counts from here. */
  touchBatch(id: string, now: number): void {
    this.#exec('update batches set touched_at = ? where id = ? and done = 0', now, id);
  }

  /** Batches whose recipients still wait for slots: the loader keeps this number bounded. */
  batchesUndrained(): number {
    return this.#exec<{ n: number }>('select count(*) as n from batches where drained = 0').rows[0]?.n ?? 0;
  }

  /** Batches not reported done. */
  batchesInFlight(): number {
    return this.#exec<{ n: number }>('select count(*) as n from batches where done = 0').rows[0]?.n ?? 0;
  }

  /** Batches not done whose last sign of life is older than `before`, and when the oldest open one was touched. */
  overdueBatches(before: number): string[] {
    return this.#exec<{ id: string }>('select id from batches where done = 0 and touched_at < ?', before).rows.map((r) => r.id);
  }

  /** Epoch ms of the oldest sign of life of a batch not done, or null. */
  oldestOpenBatch(): number | null {
    return (
      this.#exec<{ touched_at: number }>('select touched_at from batches where done = 0 order by touched_at limit 1').rows[0]?.touched_at ??
      null
    );
  }

  /** The packed recipients of a batch not done yet, or undefined. */
  openBatch(id: string): Uint8Array | undefined {
    const row = this.#exec<{ recipients: ArrayBuffer | Uint8Array | null }>('select recipients from batches where id = ? and done = 0', id)
      .rows[0];
    if (!row?.recipients) return undefined;
    return row.recipients instanceof Uint8Array ? row.recipients : new Uint8Array(row.recipients);
  }
}
