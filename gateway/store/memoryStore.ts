import { EventEmitter } from 'node:events';
import { GatewayError } from '../errors.ts';
import type { KeyValueStore } from './keyValueStore.ts';
import { boundedCache } from './boundedCache.ts';

type Entry = string | Set<string>;

/** A full store asked to forget nothing (`whenFull: 'refuse'`) refuses a new key. */
export class StoreFullError extends GatewayError {
  constructor() {
    super('PORTICO_ERR_UNAVAILABLE', { cause: new Error('the in-memory store is full') });
  }
}

/** How often a full `refuse` store looks for expired entries to make room (each look is O(n)). */
/**
 * How many of the least recently used entries a full `refuse` store looks at for one it may let
 * go (a count of a single attempt): a bounded look, so a store full of higher counts costs little
 * per refusal.
 */
const EVICTABLE_LOOK = 64;
const PURGE_EVERY_MS = 1_000;

/**
 * The in-process store for a single instance: bounded and every entry with a TTL expires on time.
 * Once `maxEntries` is reached, the least recently used entries go first (`whenFull: 'evict'`, the
 * default), or, for data whose loss helps an attacker (login throttle counters: a forgotten count
 * is a fresh budget of guesses), only a counter of a single attempt among the least recently used
 * makes room — what an attacker's flood of new names leaves, and forgetting it gives back at most
 * one guess per store-full of attempts — and when there is none a new key is refused with
 * StoreFullError while the entries held keep counting (`whenFull: 'refuse'`). Refusing every new
 * counter once full let ~100,000 failed attempts under new names lock every sign-in that had no
 * counter yet for the window (review). Callers keep unrelated data in separate stores so one kind
 * of traffic cannot evict another's entries.
 */
export function createMemoryStore(
  options: { maxEntries?: number; whenFull?: 'evict' | 'refuse' } = {},
): KeyValueStore {
  const max = options.maxEntries ?? 100_000;
  const entries = boundedCache<string, Entry>(max, { ttlAutopurge: false });
  const refuse = options.whenFull === 'refuse';
  let purgedAt = Number.NEGATIVE_INFINITY;
  /** Whether `key` may be stored: always when it is held, or when there is (or can be made) room. */
  const roomFor = (key: string): boolean => {
    if (!refuse || entries.size < max || entries.has(key)) return true;
    const now = performance.now();
    if (now - purgedAt >= PURGE_EVERY_MS) {
      purgedAt = now;
      entries.purgeStale();
      if (entries.size < max) return true;
    }
    let looked = 0;
    for (const k of entries.rkeys()) {
      if (++looked > EVICTABLE_LOOK) break;
      const v = entries.peek(k);
      if (typeof v === 'string' && Number(v) <= 1) {
        entries.delete(k);
        return true;
      }
    }
    return false;
  };
  const bus = new EventEmitter();
  bus.setMaxListeners(0);

  const str = (key: string): string | undefined => {
    const v = entries.get(key);
    return typeof v === 'string' ? v : undefined;
  };
  const put = (key: string, value: Entry, ttlMs: number | undefined) => {
    if (!roomFor(key)) throw new StoreFullError();
    entries.set(key, value, ttlMs === undefined ? undefined : { ttl: Math.max(1, ttlMs) });
  };
  const remaining = (key: string): number | undefined => {
    if (!entries.has(key)) return undefined;
    const left = entries.getRemainingTTL(key);
    return Number.isFinite(left) && left > 0 ? left : undefined;
  };

  return {
    kind: 'memory',
    async get(key) {
      return str(key);
    },
    async set(key, value, ttlMs) {
      put(key, value, ttlMs);
    },
    async add(key, value, ttlMs) {
      if (entries.has(key)) return false;
      put(key, value, ttlMs);
      return true;
    },
    async compareAndSet(key, expected, value, ttlMs) {
      if (str(key) !== expected || (expected === undefined && entries.has(key))) return false;
      put(key, value, ttlMs);
      return true;
    },
    async deleteIf(key, expected) {
      if (str(key) !== expected) return false;
      entries.delete(key);
      return true;
    },
    async take(key) {
      const v = str(key);
      if (v !== undefined) entries.delete(key);
      return v;
    },
    async delete(...keys) {
      for (const k of keys) entries.delete(k);
    },
    async ttl(key) {
      return remaining(key);
    },
    async hit(key, windowMs) {
      const count = Number(str(key) ?? 0) + 1;
      if (count === 1) put(key, '1', windowMs);
      else entries.set(key, String(count), { noUpdateTTL: true });
      return { count, resetInMs: remaining(key) ?? windowMs };
    },
    async hits(key) {
      const v = str(key);
      return { count: Number(v ?? 0), resetInMs: v === undefined ? 0 : (remaining(key) ?? 0) };
    },
    async unhit(key) {
      const v = str(key);
      if (v === undefined) return;
      const left = Math.max(0, Number(v) - 1);
      // A count back at zero is no count: dropped, so attempts given back (refused ones) leave no
      // entry behind to fill the store with.
      if (left === 0) entries.delete(key);
      else entries.set(key, String(left), { noUpdateTTL: true });
    },
    async setAdd(key, members, ttlMs) {
      const current = entries.get(key);
      const set = current instanceof Set ? current : new Set<string>();
      for (const m of members) set.add(m);
      put(key, set, ttlMs);
    },
    async setMembers(key) {
      const v = entries.get(key);
      return v instanceof Set ? [...v] : [];
    },
    async setRemove(key, members) {
      const v = entries.get(key);
      if (!(v instanceof Set)) return;
      for (const m of members) v.delete(m);
      if (v.size === 0) entries.delete(key);
    },
    async publish(channel, message) {
      // Asynchronously, as Redis delivers it: a publisher never runs its own listener inline.
      setImmediate(() => bus.emit(channel, message));
    },
    onResubscribed() {
      // In-process delivery is never interrupted.
      return () => {};
    },
    async whenSubscribed() {
      return true;
    },
    subscribe(channel, listener) {
      bus.on(channel, listener);
      return () => bus.off(channel, listener);
    },
    ready() {
      return { ok: true };
    },
    async close() {
      bus.removeAllListeners();
      entries.clear();
    },
  };
}
