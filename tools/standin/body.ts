import type { IncomingMessage } from 'node:http';

/** Method parameters after merging the query string and the body. */
export type Params = Record<string, unknown>;

/** Thrown by {@link readBody} for a body over its cap; the stand-in answers what its service answers (413). */
export class BodyTooLarge extends Error {
  constructor(limit: number) {
    super(`Request Entity Too Large: the body is over ${limit} bytes`);
  }
}

/**
 * Reads the whole request body. One over `limit` bytes (by its Content-Length, or once it grows past) is read
 * to the end without being kept, as a proxy's lingering close does, so the client still reads the refusal;
 * then {@link BodyTooLarge} is thrown.
 */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = Number(req.headers['content-length'] ?? 0);
  const tooLarge = size > limit;
  size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (!tooLarge && size <= limit) chunks.push(buf);
  }
  if (tooLarge || size > limit) throw new BodyTooLarge(limit);
  return Buffer.concat(chunks);
}

/** Decodes one text value (query, form or multipart field) by its key. */
type FieldDecoder = (key: string, value: string) => unknown;

const asText: FieldDecoder = (_key, value) => value;

/**
 * Merges query-string parameters with a JSON, multipart or form-urlencoded body, the body winning on clashes, as
 * both APIs take any of them (a body without a content type reads as a form). Text values pass through
 * `decode`. Throws on a malformed JSON body (or one that is not an object) so the caller can answer 400.
 */
export function parseParams(contentType: string | undefined, body: Buffer, query: URLSearchParams, decode = asText): Params {
  const params: Params = {};
  for (const [k, v] of query) params[k] = decode(k, v);
  if (body.length === 0) return params;
  const type = (contentType ?? '').toLowerCase();
  if (type.startsWith('application/json')) {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('JSON body must be an object');
    return Object.assign(params, parsed as Params);
  }
  if (type.startsWith('multipart/form-data')) {
    const boundary = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType ?? '');
    const b = boundary?.[1] ?? boundary?.[2];
    if (!b) throw new Error('multipart body without boundary');
    return Object.assign(params, parseMultipart(body, b, decode));
  }
  for (const [k, v] of new URLSearchParams(body.toString('utf8'))) params[k] = decode(k, v);
  return params;
}

/**
 * Parses multipart text fields. File parts are not kept; their field name maps to `{ file_name, size }` so a
 * direct upload (`photo=@cat.jpg`) still counts as present. grammY instead sends `photo=attach://<id>` as a text
 * field plus a file part named `<id>`, which needs no special handling.
 */
function parseMultipart(body: Buffer, boundary: string, decode: FieldDecoder): Params {
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
        else params[key] = decode(key, value.toString('utf8'));
      }
    }
    pos = next;
  }
  return params;
}
