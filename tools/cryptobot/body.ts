/** Crypto Pay's method parameters (query string and body merged, values as sent), read as leniently as the real API reads them. */
import type { Params } from '../standin/body.ts';

export type { Params };

/** Largest request body accepted, in bytes: nginx's default `client_max_body_size` (invoice fields are a few KB at most). */
export const MAX_BODY_BYTES = 1024 * 1024;

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
