import { LRUCache } from 'lru-cache';

/**
 * An LRU cache of at most `entries` entries that allocates as it fills. lru-cache given `max`
 * allocates and zero-fills its arrays for all `max` entries up front (a 100,000-entry cache is
 * ~3 MB before its first entry, and several are built at every start, used or not); bounding by
 * `maxSize` with every entry of size 1 keeps the same bound and eviction with storage that grows.
 */
export function boundedCache<K extends {}, V extends {}>(
  entries: number,
  options: Omit<LRUCache.Options<K, V, unknown>, 'max' | 'maxSize' | 'sizeCalculation'> = {},
): LRUCache<K, V> {
  // ttlResolution 0: with its default of 1 ms a TTL cache arms a timer every millisecond it is read
  // in, to keep the clock it read (a few µs per request on the authenticated path, in timers);
  // reading performance.now() on each lookup costs less.
  return new LRUCache<K, V>({ ttlResolution: 0, ...options, maxSize: entries, sizeCalculation: () => 1 });
}
