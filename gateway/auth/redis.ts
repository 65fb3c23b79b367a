import { Redis, Cluster, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';

export type RedisConfig = Record<string, unknown> & {
  url?: string;
  sentinels?: { host: string; port: number }[];
  name?: string;
  cluster?: { host: string; port: number }[];
};

/**
 * One ioredis client for sessions, key sets and locks. Commands fail at once while Redis is
 * down (no offline queue), so protected routes answer 503 instead of hanging; ioredis keeps
 * reconnecting on its own, so service resumes without a restart when Redis is back.
 */
export function createRedisClient(config: RedisConfig, log: Logger): Redis | Cluster {
  const common: RedisOptions = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    commandTimeout: 2000,
    retryStrategy: (attempt) => Math.min(100 * attempt, 1000),
    lazyConnect: false,
  };
  const { url, cluster, ...rest } = config;
  let client: Redis | Cluster;
  if (cluster)
    client = new Cluster(cluster, {
      redisOptions: { ...common, ...(rest as RedisOptions) },
      enableOfflineQueue: false,
    });
  else if (url) client = new Redis(url, { ...common, ...(rest as RedisOptions) });
  else client = new Redis({ ...common, ...(rest as RedisOptions) });
  let down = false;
  client.on('error', (err: Error) => {
    if (!down) log.error({ err }, 'redis unavailable; protected routes fail closed until it is back');
    down = true;
  });
  client.on('ready', () => {
    if (down) log.info('redis is back');
    down = false;
  });
  return client;
}

export function isRedisReady(client: Redis | Cluster): boolean {
  return client.status === 'ready';
}
