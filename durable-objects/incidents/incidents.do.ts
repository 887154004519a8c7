import { DurableObject } from 'cloudflare:workers';

/** An incident ends after an hour without a new occurrence; the next one opens a new incident. */
export const INCIDENT_QUIET_MS = 3600_000;

/**
 * The ledger of critical failures (one object, `INCIDENTS.idFromName('incidents')`): each failure
 * is reported with a fingerprint, and only the first occurrence of an incident is alerted. It lives
 * in a Durable Object rather than Postgres because the failures it counts are often Postgres's own.
 */
export class IncidentObject extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec(`create table if not exists incidents (
      key text primary key, opened_at integer not null, last_at integer not null, occurrences integer not null)`);
  }

  /** Counts an occurrence of `key`; `alert` is true when it opens a new incident. */
  report(key: string, now = Date.now()): { alert: boolean; occurrences: number } {
    const sql = this.ctx.storage.sql;
    sql.exec('delete from incidents where last_at < ?', now - 24 * INCIDENT_QUIET_MS);
    const row = sql
      .exec<{ last_at: number; occurrences: number }>('select last_at, occurrences from incidents where key = ?', key)
      .toArray()[0];
    if (!row || now - row.last_at > INCIDENT_QUIET_MS) {
      sql.exec(
        'insert into incidents (key, opened_at, last_at, occurrences) values (?, ?, ?, 1) on conflict (key) do update set opened_at = ?, last_at = ?, occurrences = 1',
        key,
        now,
        now,
        now,
        now,
      );
      return { alert: true, occurrences: 1 };
    }
    sql.exec('update incidents set last_at = ?, occurrences = occurrences + 1 where key = ?', now, key);
    return { alert: false, occurrences: row.occurrences + 1 };
  }

  /** The incidents of the last day, latest first (for the console). */
  recent(limit = 20): { key: string; openedAt: number; lastAt: number; occurrences: number }[] {
    return this.ctx.storage.sql
      .exec<{ key: string; opened_at: number; last_at: number; occurrences: number }>(
        'select key, opened_at, last_at, occurrences from incidents order by last_at desc limit ?',
        limit,
      )
      .toArray()
      .map((r) => ({ key: r.key, openedAt: r.opened_at, lastAt: r.last_at, occurrences: r.occurrences }));
  }
}

export function incidents(env: Env): DurableObjectStub<IncidentObject> {
  return env.INCIDENTS.get(env.INCIDENTS.idFromName('incidents'));
}
