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
