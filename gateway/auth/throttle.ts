import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { GatewayError } from '../errors.ts';

type RedisLike = import('ioredis').Redis | import('ioredis').Cluster;

export type ThrottleOptions = {
  /** Failed attempts allowed per user name within `windowMs` (default 5). */
  maxPerUser?: number;
  /** Failed attempts allowed per client address within `windowMs` (default 20). */
  maxPerIp?: number;
  /** The window in milliseconds, counted from the first failure (default 15 minutes). */
  windowMs?: number;
  /** Shared Redis: counters then hold across replicas. Without it, an LRU in this process. */
  redis?: RedisLike;
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

const MEMORY_ENTRIES = 10_000;

/**
 * Failed login attempts counted per user name and per client address in a fixed window that
 * starts with the first failure. With Redis (SET NX PX + INCR, which keeps the expiry) the
 * count is shared by every replica; otherwise an LRU bounded to 10,000 keys holds it in memory.
 * A throttled attempt is refused before the directory is contacted.
 */
export function createLoginThrottle(options: ThrottleOptions): LoginThrottle {
  const maxPerUser = options.maxPerUser ?? 5;
  const maxPerIp = options.maxPerIp ?? 20;
  const windowMs = options.windowMs ?? 15 * 60_000;
  const redis = options.redis;
  const memory = redis
    ? undefined
    : new LRUCache<string, { count: number; resetAt: number }>({ max: MEMORY_ENTRIES });

  const keys = (username: string, ip: string | undefined) => {
    const user = `throttle:${options.scope}:u:${digest(normaliseUser(username))}`;
    const addr = ip ? `throttle:${options.scope}:ip:${digest(ip)}` : undefined;
    return { user, addr };
  };

  const read = async (key: string): Promise<{ count: number; retryMs: number }> => {
    if (memory) {
      const e = memory.get(key);
      if (!e || e.resetAt <= Date.now()) return { count: 0, retryMs: 0 };
      return { count: e.count, retryMs: e.resetAt - Date.now() };
    }
    const [[, count], [, ttl]] = (await unavailableOnError(redis!.multi().get(key).pttl(key).exec())) as [
      [unknown, string | null],
      [unknown, number],
    ];
    return { count: Number(count ?? 0), retryMs: Math.max(0, Number(ttl)) };
  };

  const increment = async (key: string) => {
    if (memory) {
      const now = Date.now();
      const e = memory.get(key);
      if (!e || e.resetAt <= now) memory.set(key, { count: 1, resetAt: now + windowMs });
      else e.count++;
      return;
    }
    // The window starts with the first failure: NX keeps its expiry, INCR keeps the TTL.
    await unavailableOnError(redis!.multi().set(key, '0', 'PX', windowMs, 'NX').incr(key).exec());
  };

  return {
    async check(username, ip, message) {
      const k = keys(username, ip);
      const [user, addr] = await Promise.all([
        read(k.user),
        k.addr ? read(k.addr) : Promise.resolve({ count: 0, retryMs: 0 }),
      ]);
      const over = [user.count >= maxPerUser ? user : undefined, addr.count >= maxPerIp ? addr : undefined]
        .filter((x) => x !== undefined)
        .sort((a, b) => b.retryMs - a.retryMs)[0];
      if (over) {
        throw new GatewayError('PORTICO_ERR_TOO_MANY', {
          detail: message ?? options.message ?? 'Too many failed sign-in attempts. Try again later.',
          headers: { 'retry-after': String(Math.max(1, Math.ceil(over.retryMs / 1000))) },
        });
      }
    },
    async fail(username, ip) {
      const k = keys(username, ip);
      await Promise.all([increment(k.user), k.addr ? increment(k.addr) : undefined]);
    },
    async succeed(username) {
      const { user } = keys(username, undefined);
      if (memory) memory.delete(user);
      else await unavailableOnError(redis!.del(user));
    },
  };
}

/** User names are matched case-insensitively by directories: `Alice` and `alice` share a count. */
function normaliseUser(username: string): string {
  return username.trim().toLowerCase().slice(0, 256);
}

function digest(value: string): string {
  return createHash('sha256').update(value).digest('base64url').slice(0, 32);
}

async function unavailableOnError<T>(p: Promise<T>): Promise<T> {
  try {
    const r = await p;
    // MULTI answers null when the transaction was aborted; per-command errors sit in the pairs.
    if (r === null) throw new Error('redis transaction aborted');
    if (Array.isArray(r)) for (const pair of r) if (Array.isArray(pair) && pair[0]) throw pair[0];
    return r;
  } catch (err) {
    // Fail closed: without the counters, a password guesser would not be slowed down.
    throw new GatewayError('PORTICO_ERR_UNAVAILABLE', { cause: err });
  }
}
