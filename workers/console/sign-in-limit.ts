import {
  convertIPv4BinaryToString,
  convertIPv4MappedIPv6ToIPv4,
  convertIPv4ToBinary,
  convertIPv6ToBinary,
  distinctRemoteAddr,
  isIPv4MappedIPv6,
} from 'hono/utils/ipaddr';

/**
 * The network a sign-in attempt counts against: an IPv4 address as it is, an IPv6 address by its /64
 * (one subscriber usually holds a whole /64, so counting single addresses would let them rotate past
 * the limit), an IPv4-mapped IPv6 address as the IPv4 address. Undefined when `address` is missing or
 * not an address: Cloudflare (and locally Miniflare) always sets `CF-Connecting-IP`, so its absence
 * means the request did not come through the edge.
 */
export function clientNetwork(address: string | undefined): string | undefined {
  if (!address) return undefined;
  try {
    const kind = distinctRemoteAddr(address);
    if (kind === 'IPv4') return `ipv4:${convertIPv4BinaryToString(convertIPv4ToBinary(address))}`;
    if (kind !== 'IPv6') return undefined;
    const bits = convertIPv6ToBinary(address);
    if (isIPv4MappedIPv6(bits)) return `ipv4:${convertIPv4BinaryToString(convertIPv4MappedIPv6ToIPv4(bits))}`;
    const prefix = (bits >> 64n).toString(16).padStart(16, '0');
    return `ipv6:${prefix.match(/.{4}/g)?.join(':')}::/64`;
  } catch {
    return undefined;
  }
}

export type SignInVerdict = 'allowed' | 'client_throttled' | 'everyone_throttled';

/**
 * One sign-in attempt against both limits: 10 a minute per client network (`SIGN_IN_LIMITER`), then
 * 100 a minute from everyone together (`SIGN_IN_GLOBAL_LIMITER`), a ceiling on guesses spread over
 * many networks. A client already over its own limit does not draw from the shared one, so a single
 * network cannot use the ceiling up.
 */
export async function signInAttempt(env: Pick<Env, 'SIGN_IN_LIMITER' | 'SIGN_IN_GLOBAL_LIMITER'>, network: string): Promise<SignInVerdict> {
  if (!(await env.SIGN_IN_LIMITER.limit({ key: network })).success) return 'client_throttled';
  if (!(await env.SIGN_IN_GLOBAL_LIMITER.limit({ key: 'console-sign-in' })).success) return 'everyone_throttled';
  return 'allowed';
}
