/**
 * Just enough of the Postgres frontend/backend protocol to run one statement with text parameters and
 * read its rows as text: what an SQL-over-HTTP endpoint needs to drive PGlite's `execProtocolRaw`.
 */
const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface StatementResult {
  command: string;
  rowCount: number;
  fields: { name: string; dataTypeID: number }[];
  rows: (string | null)[][];
}

/** An ErrorResponse, with its fields named as node-postgres names them. */
class PostgresError extends Error {
  [field: string]: unknown;
}

const errorFieldNames: Record<string, string> = {
  S: 'severity',
  C: 'code',
  D: 'detail',
  H: 'hint',
  P: 'position',
  p: 'internalPosition',
  q: 'internalQuery',
  W: 'where',
  s: 'schema',
  t: 'table',
  c: 'column',
  d: 'dataType',
  n: 'constraint',
  F: 'file',
  L: 'line',
  R: 'routine',
};

class Writer {
  readonly #parts: Uint8Array[] = [];

  message(type: string, body: (w: BodyWriter) => void): this {
    const w = new BodyWriter();
    body(w);
    const payload = w.bytes();
    const header = new Uint8Array(5);
    header[0] = type.charCodeAt(0);
    new DataView(header.buffer).setInt32(1, payload.byteLength + 4);
    this.#parts.push(header, payload);
    return this;
  }

  bytes(): Uint8Array {
    return concat(this.#parts);
  }
}

class BodyWriter {
  readonly #parts: Uint8Array[] = [];

  cstring(s: string): this {
    this.#parts.push(encoder.encode(s), new Uint8Array([0]));
    return this;
  }

  int16(n: number): this {
    const b = new Uint8Array(2);
    new DataView(b.buffer).setInt16(0, n);
    this.#parts.push(b);
    return this;
  }

  int32(n: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, n);
    this.#parts.push(b);
    return this;
  }

  raw(b: Uint8Array): this {
    this.#parts.push(b);
    return this;
  }

  bytes(): Uint8Array {
    return concat(this.#parts);
  }
}

/**
 * Bind (text parameters, text results), Describe, Execute and Sync for one statement, preceded by its
 * Parse unless `prepared` says the statement `name` was parsed before. The unnamed statement ('') is
 * parsed every time.
 */
export function extendedQuery(query: string, params: unknown[], name = '', prepared = false): Uint8Array {
  const writer = new Writer();
  if (!prepared) writer.message('P', (w) => w.cstring(name).cstring(query).int16(0));
  return writer
    .message('B', (w) => {
      w.cstring('').cstring(name).int16(0).int16(params.length);
      for (const p of params) {
        if (p === null || p === undefined) w.int32(-1);
        else {
          const value = encoder.encode(typeof p === 'string' ? p : JSON.stringify(p));
          w.int32(value.byteLength).raw(value);
        }
      }
      w.int16(0);
    })
    .message('D', (w) => w.raw(new Uint8Array(['P'.charCodeAt(0)])).cstring(''))
    .message('E', (w) => w.cstring('').int32(0))
    .message('S', () => {})
    .bytes();
}

/** A simple Query (no parameters), e.g. `begin`. */
export function simpleQuery(query: string): Uint8Array {
  return new Writer().message('Q', (w) => w.cstring(query)).bytes();
}

/** Reads the backend's reply to one statement; throws `PostgresError` for an ErrorResponse. */
export function readResult(reply: Uint8Array): StatementResult {
  const view = new DataView(reply.buffer, reply.byteOffset, reply.byteLength);
  const result: StatementResult = { command: '', rowCount: 0, fields: [], rows: [] };
  let error: PostgresError | undefined;
  let at = 0;
  while (at + 5 <= reply.byteLength) {
    const type = String.fromCharCode(reply[at] as number);
    const end = at + 1 + view.getInt32(at + 1);
    let p = at + 5;
    const cstring = () => {
      const zero = reply.indexOf(0, p);
      const s = decoder.decode(reply.subarray(p, zero));
      p = zero + 1;
      return s;
    };
    if (type === 'T') {
      const count = view.getInt16(p);
      p += 2;
      for (let i = 0; i < count; i++) {
        const name = cstring();
        result.fields.push({ name, dataTypeID: view.getInt32(p + 6) });
        p += 18;
      }
    } else if (type === 'D') {
      const count = view.getInt16(p);
      p += 2;
      const row: (string | null)[] = [];
      for (let i = 0; i < count; i++) {
        const length = view.getInt32(p);
        p += 4;
        row.push(length < 0 ? null : decoder.decode(reply.subarray(p, p + length)));
        if (length > 0) p += length;
      }
      result.rows.push(row);
    } else if (type === 'C') {
      const tag = cstring();
      const words = tag.split(' ');
      result.command = words[0] ?? '';
      result.rowCount = Number(words.at(-1)) || result.rows.length;
    } else if (type === 'E') {
      const fields: Record<string, string> = {};
      while (reply[p] !== 0 && p < end) {
        const code = String.fromCharCode(reply[p] as number);
        p += 1;
        fields[errorFieldNames[code] ?? code] = cstring();
      }
      error = Object.assign(new PostgresError(fields.M ?? 'unknown error'), fields);
    }
    at = end;
  }
  if (error) throw error;
  return result;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}
