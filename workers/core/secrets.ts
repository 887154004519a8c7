const encoder = new TextEncoder();

/**
 * Compares a secret with a presented value in constant time (Workers' `crypto.subtle.timingSafeEqual`).
 * Only the length can leak, as with any comparison; the expected secret's length is not a secret.
 */
export function secretsEqual(expected: string, given: string): boolean {
  const a = encoder.encode(expected);
  const b = encoder.encode(given);
  if (a.byteLength !== b.byteLength) return false;
  return crypto.subtle.timingSafeEqual(a, b);
}
