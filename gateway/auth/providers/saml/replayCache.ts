import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { GatewayError } from '../../../errors.ts';

type RedisLike = import('ioredis').Redis | import('ioredis').Cluster;

/** Remembers what may be used once (SAML assertion IDs) until it would expire anyway. */
export type OnceCache = {
  /** True the first time `id` is seen within `ttlMs`, false on every later call. */
  first(id: string, ttlMs: number): Promise<boolean>;
};

/**
 * Redis (SET NX PX, shared by every replica) when sessions use it, otherwise an LRU in this
 * process. A Redis error refuses the login (fail closed) rather than risk accepting a replay.
 */
export function createOnceCache(scope: string, redis: RedisLike | undefined): OnceCache {
  const memory = redis
    ? undefined
    : new LRUCache<string, true>({ max: 100_000, ttlAutopurge: false, ttl: 1 });
  return {
    async first(id, ttlMs) {
      const key = `saml:assertion:${scope}:${createHash('sha256').update(id).digest('base64url')}`;
      const ttl = Math.max(1000, Math.ceil(ttlMs));
      if (memory) {
        if (memory.has(key)) return false;
        memory.set(key, true, { ttl });
        return true;
      }
      try {
        return (await redis!.set(key, '1', 'PX', ttl, 'NX')) === 'OK';
      } catch (err) {
        throw new GatewayError('PORTICO_ERR_UNAVAILABLE', { cause: err });
      }
    },
  };
}
