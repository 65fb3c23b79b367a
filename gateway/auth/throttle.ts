import { createHash } from 'node:crypto';
import { GatewayError } from '../errors.ts';
import { addressKey } from '../routePolicy/addressKey.ts';
import type { KeyValueStore } from '../store/keyValueStore.ts';

export type ThrottleOptions = {
  /** Failed attempts allowed per user name within `windowMs` (default 5). */
  maxPerUser?: number;
  /** Failed attempts allowed per client address within `windowMs` (default 20). */
  maxPerIp?: number;
  /** The window in milliseconds, counted from the first failure (default 15 minutes). */
  windowMs?: number;
  /** The gateway's store: Redis holds the counts across replicas, memory for one instance. */
  store: KeyValueStore;
  /** Separates the counters of several login methods (the provider id). */
  scope: string;
  /** Shown with the 429; the caller localises it. */
  message?: string;
};

export type LoginThrottle = {
  /** Throws a 429 GatewayError when the user or the address is over its limit. */
  check(username: string, ip: string | undefined, message?: string): Promise<void>;
  /** Counts a failed attempt for the user and the address. */
  fail(username: string, ip: string | undefined): Promise<void>;
  /** A successful login clears the user's counter (the address keeps its own). */
  succeed(username: string): Promise<void>;
};

/**
 * Failed login attempts counted per user name and per client address in a fixed window that
 * starts with the first failure, in the gateway's store (shared by replicas with Redis). A
 * throttled attempt is refused before the directory is contacted; a store that is down refuses
 * the login (fail closed: without the counters a password guesser would not be slowed down).
 */
/** How many addresses' worth of failures an IPv6 /64 may have. */
const NETWORK_SHARE = 8;

export function createLoginThrottle(options: ThrottleOptions): LoginThrottle {
  const maxPerUser = options.maxPerUser ?? 5;
  const maxPerIp = options.maxPerIp ?? 20;
  const windowMs = options.windowMs ?? 15 * 60_000;
  const { store } = options;

  // An IPv6 client is counted by its address and by its /64 (one subscriber hands out addresses
  // freely), the /64 with NETWORK_SHARE times the budget: an office VLAN is one /64 too, and one
  // person's typos must not lock all of it out.
  const maxPerNetwork = maxPerIp * NETWORK_SHARE;
  const keys = (username: string, ip: string | undefined) => {
    const network = ip ? addressKey(ip) : undefined;
    return {
      user: `throttle:${options.scope}:u:${digest(normaliseUser(username))}`,
      addr: ip ? `throttle:${options.scope}:ip:${digest(ip)}` : undefined,
      net: network?.endsWith('/64') ? `throttle:${options.scope}:net:${digest(network)}` : undefined,
    };
  };
  const none = Promise.resolve({ count: 0, resetInMs: 0 });

  return {
    async check(username, ip, message) {
      const k = keys(username, ip);
      const [user, addr, net] = await Promise.all([
        store.hits(k.user),
        k.addr ? store.hits(k.addr) : none,
        k.net ? store.hits(k.net) : none,
      ]);
      const over = [
        user.count >= maxPerUser ? user : undefined,
        addr.count >= maxPerIp ? addr : undefined,
        net.count >= maxPerNetwork ? net : undefined,
      ]
        .filter((x) => x !== undefined)
        .sort((a, b) => b.resetInMs - a.resetInMs)[0];
      if (over) {
        throw new GatewayError('PORTICO_ERR_TOO_MANY', {
          detail: message ?? options.message ?? 'Too many failed sign-in attempts. Try again later.',
          headers: { 'retry-after': String(Math.max(1, Math.ceil(over.resetInMs / 1000))) },
        });
      }
    },
    async fail(username, ip) {
      const k = keys(username, ip);
      await Promise.all([
        store.hit(k.user, windowMs),
        k.addr ? store.hit(k.addr, windowMs) : undefined,
        k.net ? store.hit(k.net, windowMs) : undefined,
      ]);
    },
    async succeed(username) {
      await store.delete(keys(username, undefined).user);
    },
  };
}

/**
 * User names are matched loosely by directories: `Alice`, `alice`, fullwidth `ａｌｉｃｅ` and
 * `alice` with a zero-width space share a count (compatibility forms folded, case ignored,
 * invisible characters dropped).
 */
function normaliseUser(username: string): string {
  return (
    username
      .normalize('NFKC')
      .replace(/\p{Default_Ignorable_Code_Point}/gu, '')
      .trim()
      .toLowerCase()
      // Marks go too (İ lower-cases to i and a dot above): a shared budget errs on the safe side.
      .normalize('NFKD')
      .replace(/\p{M}/gu, '')
      .slice(0, 256)
  );
}

function digest(value: string): string {
  return createHash('sha256').update(value).digest('base64url').slice(0, 32);
}
