/** How the Bot API reads method parameters: form values stay strings until read, JSON-typed fields are decoded. */
import type { Params } from '../standin/body.ts';
import { parseParams as mergeParams } from '../standin/body.ts';

export type { Params };

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

/**
 * Merges query-string parameters with the body, the body winning on clashes (the real API accepts both), JSON
 * fields given as text decoded. Throws on a malformed JSON body so the caller can answer 400.
 */
export function parseParams(contentType: string | undefined, body: Buffer, query: URLSearchParams): Params {
  return mergeParams(contentType, body, query, decodeField);
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
