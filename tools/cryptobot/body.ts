import type { IncomingMessage } from 'node:http';

/** Method parameters after merging the query string and the body. */
export type Params = Record<string, unknown>;

/** Largest request body accepted, in bytes; invoice fields are a few KB at most. */
const MAX_BODY_BYTES = 1024 * 1024;

/** Reads the whole request body; rejects once it passes {@link MAX_BODY_BYTES}. */
export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > MAX_BODY_BYTES) throw new Error('Request Entity Too Large');
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

/**
 * Merges query-string parameters with a JSON or form-urlencoded body, the body winning, as the real API takes
 * either. Multipart bodies are not understood (no client of ours sends them). Throws on malformed JSON.
 */
export function parseParams(contentType: string | undefined, body: Buffer, query: URLSearchParams): Params {
  const params: Params = Object.fromEntries(query);
  if (body.length === 0) return params;
  if ((contentType ?? '').toLowerCase().startsWith('application/json')) {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('JSON body must be an object');
    return Object.assign(params, parsed);
  }
  return Object.assign(params, Object.fromEntries(new URLSearchParams(body.toString('utf8'))));
}

/** A string value; numbers are stringified since JSON clients may send either. Undefined when absent or null. */
export function str(params: Params, key: string): string | undefined {
  const v = params[key];
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

/** An integer given as a JSON number or a decimal string; NaN when present but malformed, undefined when absent. */
export function int(params: Params, key: string): number | undefined {
  const v = params[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'number') return Number.isInteger(v) ? v : Number.NaN;
  return typeof v === 'string' && /^-?\d+$/.test(v.trim()) ? Number(v.trim()) : Number.NaN;
}

/** A boolean given as JSON or as `true`/`false` text; `fallback` when absent. */
export function bool(params: Params, key: string, fallback: boolean): boolean {
  const v = params[key];
  if (v === undefined || v === null || v === '') return fallback;
  return v === true || v === 'true' || v === '1' || v === 1;
}

/** A list given as a JSON array or as comma-separated text (`"BTC,TON"`); undefined when absent. */
export function list(params: Params, key: string): string[] | undefined {
  const v = params[key];
  if (v === undefined || v === null || v === '') return undefined;
  const items = Array.isArray(v) ? v.map(String) : String(v).split(',');
  return items.map((s) => s.trim());
}
