import { createRequire } from 'node:module';
import type { Registry } from 'prom-client';
import type { KeyValueStore } from '../../store/keyValueStore.ts';

const require = createRequire(import.meta.url);

/**
 * `portico_redis_up`: whether the Redis that holds the sessions is connected, read from the
 * gateway's own store at every scrape (the connection that matters, no extra one). Absent when
 * sessions are not in Redis.
 */
export function redisUpGauge(registry: Registry, store: KeyValueStore): { close(): void } {
  if (store.kind !== 'redis') return { close() {} };
  const { Gauge } = require('prom-client') as typeof import('prom-client');
  new Gauge({
    name: 'portico_redis_up',
    help: 'Whether the Redis that holds the sessions is connected: 1 yes, 0 no (absent without Redis sessions).',
    registers: [registry],
    collect() {
      this.set(store.ready().ok ? 1 : 0);
    },
  });
  return { close() {} };
}
