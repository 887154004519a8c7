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

/**
 * Hex HMAC-SHA256 of `message` under `key` (raw bytes or a string). A string message is signed as its
 * UTF-8 bytes; a signed request body is passed as the bytes received, never decoded and re-encoded.
 */
export async function hmacSha256Hex(key: ArrayBuffer | string, message: string | ArrayBuffer | Uint8Array): Promise<string> {
  const raw = typeof key === 'string' ? encoder.encode(key) : key;
  const k = await crypto.subtle.importKey('raw', raw, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
  return hex(await crypto.subtle.sign('HMAC', k, typeof message === 'string' ? encoder.encode(message) : message));
}

/** Hex SHA-256 of a string. */
export async function sha256Hex(text: string): Promise<string> {
  return hex(await sha256(text));
}

function hex(bytes: ArrayBuffer): string {
  return [...new Uint8Array(bytes)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** SHA-256 of a string, raw bytes. */
export function sha256(text: string): Promise<ArrayBuffer> {
  return crypto.subtle.digest('SHA-256', encoder.encode(text));
}
