import { isIPv4, isIPv6 } from 'node:net';
import type { Logger } from 'pino';
import type { Rate } from '../config/types.ts';
import { GatewayError } from '../errors.ts';
import type { KeyValueStore } from '../store/keyValueStore.ts';
import { createMemoryStore } from '../store/memoryStore.ts';

export type RateCounter = (key: string, rate: Rate) => Promise<void>;

/** A store outage is logged at most this often: every request on a limited route would report it. */
const WARN_EVERY_MS = 30_000;

/**
 * Counts requests in fixed windows (`store.hit`) and refuses the one over the rate with 429 and
 * Retry-After. With Redis the counts are shared by every replica; with the memory store they are
 * this instance's, in a bounded store of their own, so a flood of addresses cannot push out
 * signing keys or replay-cache entries. When Redis does not answer, requests pass (a rate limit
 * must not take a route down with the store) and a warning says so.
 */
export function createRateCounter(store: KeyValueStore, log: Logger): RateCounter {
  const counters = store.kind === 'redis' ? store : createMemoryStore({ maxEntries: 100_000 });
  let warnedAt = Number.NEGATIVE_INFINITY;
  return async (key, rate) => {
    let count: number;
    let resetInMs: number;
    try {
      ({ count, resetInMs } = await counters.hit(`rate:${key}`, rate.windowMs));
    } catch (err) {
      if (performance.now() - warnedAt > WARN_EVERY_MS) {
        warnedAt = performance.now();
        log.warn({ err }, 'rate limits are not counted: the store does not answer; requests pass');
      }
      return;
    }
    if (count <= rate.limit) return;
    const seconds = Math.max(1, Math.ceil(resetInMs / 1000));
    throw new GatewayError('PORTICO_ERR_TOO_MANY', {
      headers: { 'retry-after': String(seconds) },
      extra: { retryAfter: seconds },
    });
  };
}

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
