import { isIPv4, isIPv6 } from 'node:net';

/**
 * The address a client is counted by: IPv4 as it is, IPv6 by its /64 (one subscriber's network,
 * which hands out addresses freely), IPv4-mapped IPv6 as IPv4.
 */
export function addressKey(ip: string): string {
  if (ip.startsWith('::ffff:') && isIPv4(ip.slice(7))) return ip.slice(7);
  if (!isIPv6(ip)) return ip;
  return `${expandIPv6(ip).slice(0, 4).join(':')}::/64`;
}

function expandIPv6(ip: string): string[] {
  const address = ip.split('%')[0]!;
  const [head, tail] = address.split('::') as [string, string | undefined];
  const part = (s: string) => (s === '' ? [] : s.split(':')).flatMap(hextets);
  const left = part(head);
  const right = tail === undefined ? [] : part(tail);
  const zeros = new Array<string>(Math.max(0, 8 - left.length - right.length)).fill('0');
  return [...left, ...zeros, ...right].map((h) => Number.parseInt(h, 16).toString(16));
}

/** A group, or an embedded IPv4 address as the two groups it stands for. */
function hextets(group: string): string[] {
  if (!group.includes('.')) return [group];
  const [a, b, c, d] = group.split('.').map(Number) as [number, number, number, number];
  return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
}
