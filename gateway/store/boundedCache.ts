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
  return new LRUCache<K, V>({ ...options, maxSize: entries, sizeCalculation: () => 1 });
}
