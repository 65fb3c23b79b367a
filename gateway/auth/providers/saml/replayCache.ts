import { createHash } from 'node:crypto';
import type { KeyValueStore } from '../../../store/keyValueStore.ts';

/** Remembers what may be used once (SAML assertion and LogoutRequest IDs) until it would expire anyway. */
export type OnceCache = {
  /** True the first time `id` is seen within `ttlMs`, false on every later call. */
  first(id: string, ttlMs: number): Promise<boolean>;
};

/**
 * In the gateway's store (SET NX, shared by every replica with Redis). A store error refuses the
 * login (fail closed) rather than risk accepting a replay.
 */
export function createOnceCache(scope: string, store: KeyValueStore): OnceCache {
  return {
    async first(id, ttlMs) {
      const key = `saml:assertion:${scope}:${createHash('sha256').update(id).digest('base64url')}`;
      return store.add(key, '1', Math.max(1000, Math.ceil(ttlMs)));
    },
  };
}
