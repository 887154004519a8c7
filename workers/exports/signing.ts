import { hmacSha256Hex, secretsEqual } from '../core/secrets';

/** How long a download link works. */
export const LINK_TTL_SECONDS = 24 * 3600;

/** Links are signed with a key derived from the admin token: rotating the token revokes every link. */
const keyOf = (adminToken: string) => hmacSha256Hex(adminToken, 'flarecast:exports');

async function signature(adminToken: string, key: string, expires: number): Promise<string> {
  return hmacSha256Hex(await keyOf(adminToken), `${key}\n${expires}`);
}

/** `/<key>?exp=<unix seconds>&sig=<hex>` (keys start with `exports/`), valid for `ttl` seconds. */
export async function signedPath(adminToken: string, key: string, now = Date.now(), ttl = LINK_TTL_SECONDS): Promise<string> {
  const expires = Math.floor(now / 1000) + ttl;
  return `/${key}?exp=${expires}&sig=${await signature(adminToken, key, expires)}`;
}

/** Whether a link's signature is right (constant time) and it has not expired. */
export async function linkValid(adminToken: string, key: string, exp: string | undefined, sig: string | undefined, now = Date.now()) {
  const expires = Number(exp);
  if (!Number.isInteger(expires) || !sig) return { ok: false as const, reason: 'missing signature' };
  if (!secretsEqual(await signature(adminToken, key, expires), sig.toLowerCase())) return { ok: false as const, reason: 'bad signature' };
  if (expires * 1000 < now) return { ok: false as const, reason: 'link expired' };
  return { ok: true as const };
}
