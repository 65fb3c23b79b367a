import { once } from 'node:events';
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import { Gauge, type Registry } from 'prom-client';
import { createRedisClient, type RedisConfig } from '../../auth/redis.ts';
import type { Config } from '../../config/types.ts';

/**
 * `portico_redis_up`: whether the Redis that holds the sessions answers a PING, asked at every
 * scrape over a connection of its own (same settings as the session store's). Absent when
 * sessions are not in Redis. Like the session store, it follows the config Portico started with.
 */
export function redisUpGauge(registry: Registry, initial: Config, log: Logger): { close(): void } {
  const settings = initial.raw.session?.store === 'redis' ? initial.raw.session.redis : undefined;
  if (!settings) return { close() {} };
  // Its outages are the session store's to log; this connection only measures.
  const client: Redis | Cluster = createRedisClient(
    settings as RedisConfig,
    log.child({}, { level: 'silent' }),
  );
  new Gauge({
    name: 'portico_redis_up',
    help: 'Whether the Redis that holds the sessions answers a PING: 1 yes, 0 no (absent without Redis sessions).',
    registers: [registry],
    async collect() {
      this.set((await answers(client)) ? 1 : 0);
    },
  });
  return { close: () => client.disconnect() };
}

async function answers(client: Redis | Cluster): Promise<boolean> {
  try {
    if (client.status === 'connecting' || client.status === 'connect' || client.status === 'wait') {
      // Just started: give the first connection a moment rather than report a false outage.
      await Promise.race([once(client, 'ready'), new Promise((r) => setTimeout(r, 1000).unref())]);
    }
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  }
}
