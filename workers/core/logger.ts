import { DrizzleQueryError } from 'drizzle-orm/errors';
import { redact } from './redact';

/** Fields of one log line; values must be JSON-serialisable and must never hold a secret. */
export type LogFields = Record<string, unknown>;

export interface Logger {
  readonly correlationId: string;
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
type Level = LogLevel;

const rank: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
/** The isolate's threshold, set from `LOG_LEVEL` each time the configuration is read. Default info */
let threshold: LogLevel = 'info';

/** Lines below `level` are not written from now on (in this isolate). */
export function setLogLevel(level: LogLevel): void {
  threshold = level;
}

/** A logger that writes one JSON line per event at or above `LOG_LEVEL` and carries `correlation_id` on every line. */
export function createLogger(correlationId: string, base: LogFields = {}): Logger {
  const write = (level: Level, event: string, fields?: LogFields) => {
    if (rank[level] < rank[threshold]) return;
    const line = redact(JSON.stringify({ ts: new Date().toISOString(), level, event, correlation_id: correlationId, ...base, ...fields }));
    if (level === 'error') console.error(line);
    else if (level === 'warn') console.warn(line);
    else console.log(line);
  };
  return {
    correlationId,
    debug: (event, fields) => write('debug', event, fields),
    info: (event, fields) => write('info', event, fields),
    warn: (event, fields) => write('warn', event, fields),
    error: (event, fields) => write('error', event, fields),
    child: (fields) => createLogger(correlationId, { ...base, ...fields }),
  };
}

/**
 * The message of an unknown thrown value and of its causes, for logs, stored errors and alerts,
 * outermost first (`A ← B`). A failed statement says its cause first and then where, by the first
 * words of its SQL: never its parameters, which hold whatever the statement carried (Telegram ids,
 * names, whole webhook bodies), nor a value Postgres quotes back in its message.
 */
export function errorMessage(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err, depth = 0; e !== undefined && depth < 4; depth++) {
    if (e instanceof DrizzleQueryError) {
      const cause = e.cause === undefined ? 'query failed' : errorMessage(e.cause);
      parts.push(`${withoutQuotedValues(cause)} (in ${statementHead(e.query)})`);
      break;
    }
    parts.push(e instanceof Error ? e.message : String(e));
    e = e instanceof Error ? e.cause : undefined;
  }
  return redact(parts.join(' ← '));
}

/** The start of a statement, enough to tell which: `insert into telegram_updates (update_id) …`. */
function statementHead(query: string): string {
  const flat = query.replace(/\s+/g, ' ').trim();
  return flat.length > 80 ? `${flat.slice(0, 80)}…` : flat;
}

/** Postgres repeats the offending value in some messages (`invalid input syntax for type uuid: "…"`). */
function withoutQuotedValues(message: string): string {
  return message.replace(/(invalid input (?:syntax|value) for [^:"]+): ".*"/g, '$1: "…"');
}
