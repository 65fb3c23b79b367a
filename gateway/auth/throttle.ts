import { createHash } from 'node:crypto';
import { GatewayError } from '../errors.ts';
import { addressKey } from '../routePolicy/addressKey.ts';
import type { KeyValueStore } from '../store/keyValueStore.ts';
import { StoreFullError } from '../store/memoryStore.ts';

export type ThrottleOptions = {
  /** Failed attempts allowed per user name within `windowMs` (default 5). */
  maxPerUser?: number;
  /** Failed attempts allowed per client address within `windowMs` (default 20). */
  maxPerIp?: number;
  /** The window in milliseconds, counted from the first attempt (default 15 minutes). */
  windowMs?: number;
  /** The gateway's store: Redis holds the counts across replicas, memory for one instance. */
  store: KeyValueStore;
  /** Separates the counters of several login methods (the provider id). */
  scope: string;
  /** Shown with the 429; the caller localises it. */
  message?: string;
};

/** One counted attempt: it stays counted (a failure) unless it is given back. */
export type LoginAttempt = {
  /** Signed in: clears the user's counter and gives the address its attempt back. */
  succeeded(): Promise<void>;
  /** The password was never judged (the directory was down): every counter gets it back. */
  withdraw(): Promise<void>;
};

export type LoginThrottle = {
  /**
   * Counts an attempt for the user and the address before the password is checked; throws a 429
   * GatewayError (the attempt given back) when the user or the address is over its limit.
   */
  attempt(username: string, ip: string | undefined, message?: string): Promise<LoginAttempt>;
};

/**
 * Login attempts counted per user name and per client address in a fixed window that starts with
 * the first attempt, in the gateway's store (shared by replicas with Redis). An attempt is counted
 * before the directory is contacted, by an atomic increment whose answer decides: reading the
 * counts first and adding a failure after the bind would let parallel guesses all pass the read
 * (the count was `maxPerUser` checks in flight, not `maxPerUser` guesses). A success or an attempt
 * never judged gives its count back, so the counts are failures plus attempts in flight. A store
 * that is down refuses the login (fail closed: without the counters a guesser is not slowed down).
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

  return {
    async attempt(username, ip, message) {
      const k = keys(username, ip);
      const counted = [
        { key: k.user, max: maxPerUser },
        ...(k.addr ? [{ key: k.addr, max: maxPerIp }] : []),
        ...(k.net ? [{ key: k.net, max: maxPerNetwork }] : []),
      ];
      const settled = await Promise.allSettled(counted.map((c) => store.hit(c.key, windowMs)));
      const giveBack = () => Promise.all(counted.map((c) => store.unhit(c.key))).then(() => undefined);
      const failed = settled.find((r) => r.status === 'rejected');
      if (failed) {
        // Not counted, so not judged: the counts that were taken are given back.
        await Promise.all(counted.map((c, i) => settled[i]!.status === 'fulfilled' && store.unhit(c.key)));
        const err = (failed as PromiseRejectedResult).reason;
        // A single instance's counter store, full of repeated failures, refuses new counters
        // rather than forget old ones (a forgotten count is a fresh budget of guesses): sign-ins
        // that need a new counter wait until the window's counters expire (memoryStore.ts).
        if (err instanceof StoreFullError)
          throw new GatewayError('PORTICO_ERR_TOO_MANY', {
            detail: message ?? options.message ?? 'Too many failed sign-in attempts. Try again later.',
            headers: { 'retry-after': String(Math.max(1, Math.ceil(Math.min(windowMs, 60_000) / 1000))) },
            cause: err,
          });
        throw err;
      }
      const hits = settled.map(
        (r) => (r as PromiseFulfilledResult<{ count: number; resetInMs: number }>).value,
      );
      const over = hits
        .filter((h, i) => h.count > counted[i]!.max)
        .sort((a, b) => b.resetInMs - a.resetInMs)[0];
      if (over) {
        // A refused attempt is no guess: given back, so refusals do not lengthen anyone's lock-out
        // nor spend the address's budget on another user's.
        await giveBack();
        throw new GatewayError('PORTICO_ERR_TOO_MANY', {
          detail: message ?? options.message ?? 'Too many failed sign-in attempts. Try again later.',
          headers: { 'retry-after': String(Math.max(1, Math.ceil(over.resetInMs / 1000))) },
        });
      }
      return {
        async succeeded() {
          await Promise.all([store.delete(k.user), ...counted.slice(1).map((c) => store.unhit(c.key))]);
        },
        withdraw: giveBack,
      };
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
