/**
 * The key per-IP limits count under (MAX_CONNECTIONS_PER_IP, RATE_LIMIT_CONN_PER_10S,
 * RATE_LIMIT_IP_MSGS_PER_10S). An IPv4 address is its own key. An IPv6 client usually holds a
 * whole /64 (and privacy extensions rotate within it), so keying on the full address let one
 * client escape every per-IP limit; IPv6 addresses are keyed by their first IPV6_PREFIX_LENGTH
 * bits (default 64), written as the masked address plus the prefix length (`2001:db8:0:0::/64`).
 * Hand-written because node:net validates addresses (isIPv6) but neither expands nor masks them.
 */
import { isIPv4, isIPv6 } from 'node:net';

export function ipLimitKey(ip: string, prefixLength: number): string {
  if (prefixLength >= 128 || !isIPv6(ip)) return ip;
  const groups = expandIPv6(ip);
  if (groups === undefined) return ip;
  let bits = prefixLength;
  const out: string[] = [];
  for (let i = 0; i < 8; i++) {
    const keep = Math.max(0, Math.min(16, bits));
    bits -= 16;
    const mask = keep === 0 ? 0 : (0xffff << (16 - keep)) & 0xffff;
    out.push((groups[i]! & mask).toString(16));
  }
  return `${out.join(':')}/${prefixLength}`;
}

/** The eight 16-bit groups of a valid IPv6 address (zone id dropped, embedded IPv4 allowed). */
function expandIPv6(address: string): number[] | undefined {
  let ip = address;
  const zone = ip.indexOf('%');
  if (zone !== -1) ip = ip.slice(0, zone);
  let tail: number[] = [];
  const lastColon = ip.lastIndexOf(':');
  const last = ip.slice(lastColon + 1);
  if (isIPv4(last)) {
    const [a, b, c, d] = last.split('.').map(Number) as [number, number, number, number];
    tail = [(a << 8) | b, (c << 8) | d];
    ip = ip.slice(0, lastColon + 1) + '0';
  }
  const halves = ip.split('::');
  if (halves.length > 2) return undefined;
  const parse = (s: string) => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  if (tail.length === 2) {
    // the placeholder "0" stands for the two groups of the embedded IPv4 address
    (halves.length === 2 ? rest : head).pop();
  }
  const fill = 8 - head.length - rest.length - tail.length;
  if (fill < 0 || (halves.length === 1 && fill !== 0)) return undefined;
  const groups = [...head, ...new Array<number>(fill).fill(0), ...rest, ...tail];
  return groups.length === 8 && groups.every((g) => Number.isInteger(g) && g >= 0 && g <= 0xffff)
    ? groups
    : undefined;
}
