import type { IncomingMessage } from 'node:http';

/** Method parameters after merging the query string and the body; form values stay strings until read. */
export type Params = Record<string, unknown>;

/** Largest request body accepted, in bytes (the real API takes 50 MB uploads). */
export const MAX_BODY_BYTES = 50 * 1024 * 1024;

/**
 * Fields the Bot API declares as JSON-serialised objects. Form and multipart bodies carry them as JSON text;
 * only these are decoded so that a message text such as `[1]` stays a string.
 */
const JSON_FIELDS = new Set([
  'reply_markup',
  'entities',
  'caption_entities',
  'media',
  'link_preview_options',
  'reply_parameters',
  'commands',
  'scope',
  'allowed_updates',
  'message_ids',
]);

/** Reads the whole request body; rejects once it passes `limit` bytes (default {@link MAX_BODY_BYTES}). */
export async function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > limit) throw new Error('Request Entity Too Large');
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

/**
 * Merges query-string parameters with the body, the body winning on clashes (the real API accepts both).
 * Throws on a malformed JSON body so the caller can answer 400.
 */
export function parseParams(contentType: string | undefined, body: Buffer, query: URLSearchParams): Params {
  const params: Params = {};
  for (const [k, v] of query) params[k] = decodeField(k, v);
  const type = (contentType ?? '').toLowerCase();
  if (body.length === 0) return params;
  if (type.startsWith('application/json')) {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('JSON body must be an object');
    return Object.assign(params, parsed as Params);
  }
  if (type.startsWith('multipart/form-data')) {
    const boundary = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType ?? '');
    const b = boundary?.[1] ?? boundary?.[2];
    if (!b) throw new Error('multipart body without boundary');
    return Object.assign(params, parseMultipart(body, b));
  }
  // x-www-form-urlencoded, and the fallback for clients that omit a content type.
  for (const [k, v] of new URLSearchParams(body.toString('utf8'))) params[k] = decodeField(k, v);
  return params;
}

/** Decodes JSON-typed fields sent as text; leaves anything unparsable as the raw string. */
function decodeField(key: string, value: string): unknown {
  if (!JSON_FIELDS.has(key)) return value;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return value;
  }
}

/**
 * Parses multipart text fields. File parts are not kept; their field name maps to `{ file_name, size }` so a
 * direct upload (`photo=@cat.jpg`) still counts as "photo present". grammY instead sends `photo=attach://<id>`
 * as a text field plus a file part named `<id>`, which needs no special handling.
 */
function parseMultipart(body: Buffer, boundary: string): Params {
  const params: Params = {};
  const delimiter = Buffer.from(`--${boundary}`);
  let pos = body.indexOf(delimiter);
  while (pos !== -1) {
    let start = pos + delimiter.length;
    if (body[start] === 0x2d && body[start + 1] === 0x2d) break; // closing `--boundary--`
    if (body[start] === 0x0d && body[start + 1] === 0x0a) start += 2;
    const next = body.indexOf(delimiter, start);
    if (next === -1) break;
    // The CRLF before the next delimiter belongs to the delimiter, not to the value.
    let end = next;
    if (body[end - 2] === 0x0d && body[end - 1] === 0x0a) end -= 2;
    const headerEnd = body.indexOf('\r\n\r\n', start);
    if (headerEnd !== -1 && headerEnd <= end) {
      const headers = body.subarray(start, headerEnd).toString('utf8');
      const disposition = /content-disposition\s*:([^\r\n]*)/i.exec(headers)?.[1] ?? '';
      const name = /\bname=(?:"([^"]*)"|([^;\s]+))/i.exec(disposition);
      const key = name?.[1] ?? name?.[2];
      const filename = /\bfilename=(?:"([^"]*)"|([^;\r\n]+))/i.exec(disposition);
      const value = body.subarray(headerEnd + 4, end);
      if (key !== undefined) {
        if (filename) params[key] ??= { file_name: (filename[1] ?? filename[2] ?? '').trim(), size: value.length };
        else params[key] = decodeField(key, value.toString('utf8'));
      }
    }
    pos = next;
  }
  return params;
}

/** A present, non-empty string value (numbers are stringified, since JSON clients may send either). */
export function str(params: Params, key: string): string | undefined {
  const v = params[key];
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  return undefined;
}

/** An integer given as a JSON number or a decimal string; undefined when absent or malformed. */
export function int(params: Params, key: string): number | undefined {
  const v = params[key];
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && /^-?\d+$/.test(v.trim())) return Number(v.trim());
  return undefined;
}

/** `true`, `"true"`, `1` and `"1"` count as true, as in the real API. */
export function bool(params: Params, key: string): boolean {
  const v = params[key];
  return v === true || v === 1 || v === 'true' || v === '1' || v === 'True';
}
