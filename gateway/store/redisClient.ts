import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createRequire } from 'node:module';
import type { Cluster, Redis, RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { parseDuration } from '../config/duration.ts';
import type { RawSession } from '../config/types.ts';

type RedisSettings = NonNullable<RawSession['redis']>;

/**
 * The gateway's Redis connection, from the validated `session.redis` (config/redisSchema.ts maps
 * one to one onto what is passed here: nothing unchecked reaches ioredis). Commands fail at once
 * while Redis is down (no offline queue), so protected routes answer 503 instead of hanging;
 * ioredis keeps reconnecting by itself, so service resumes without a restart.
 */
export function createRedisClient(settings: RedisSettings, baseDir: string, log: Logger): Redis | Cluster {
  // Loaded only when sessions are in Redis (20 MB): a single instance on memory never needs it.
  const { Cluster, Redis } = createRequire(import.meta.url)('ioredis') as typeof import('ioredis');
  const tls =
    settings.tls === true
      ? {}
      : typeof settings.tls === 'object'
        ? {
            ...(settings.tls.ca
              ? {
                  ca: settings.tls.ca.includes('-----BEGIN')
                    ? settings.tls.ca
                    : readFileSync(resolve(baseDir, settings.tls.ca)),
                }
              : {}),
            ...(settings.tls.serverName ? { servername: settings.tls.serverName } : {}),
            ...(settings.tls.insecureSkipVerify ? { rejectUnauthorized: false } : {}),
          }
        : undefined;
  const commandTimeout =
    settings.commandTimeout !== undefined ? parseDuration(settings.commandTimeout) : 2000;
  const common: RedisOptions = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: settings.connectTimeout !== undefined ? parseDuration(settings.connectTimeout) : 2000,
    commandTimeout,
    // A connection cut off without closing (packets dropped by a partition, a NAT or conntrack entry
    // lost in a failover) answers nothing and reports nothing: commandTimeout only fails each
    // command, so the gateway would answer 503 until TCP gave up (minutes, or never). No byte back
    // for twice the command timeout while commands wait: the socket is dropped and made again.
    socketTimeout: 2 * commandTimeout,
    keepAlive: 10_000,
    retryStrategy: (attempt) => Math.min(100 * attempt, 1000),
    ...(settings.username ? { username: settings.username } : {}),
    ...(settings.password ? { password: settings.password } : {}),
    ...(settings.db !== undefined ? { db: settings.db } : {}),
    ...(tls ? { tls } : {}),
  };
  let client: Redis | Cluster;
  if (settings.cluster)
    client = new Cluster(settings.cluster, { redisOptions: common, enableOfflineQueue: false });
  else if (settings.sentinels)
    client = new Redis({
      ...common,
      sentinels: settings.sentinels,
      name: settings.name,
      ...(settings.sentinelUsername ? { sentinelUsername: settings.sentinelUsername } : {}),
      ...(settings.sentinelPassword ? { sentinelPassword: settings.sentinelPassword } : {}),
    });
  else if (settings.url) client = new Redis(settings.url, common);
  else client = new Redis({ ...common, host: settings.host, port: settings.port });
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

/** Waits (bounded) until Redis is connected, so the first requests after start do not fail. */
export async function waitForRedis(client: Redis | Cluster, ms: number): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((done) => {
    const timer = setTimeout(done, ms);
    client.once('ready', () => {
      clearTimeout(timer);
      done();
    });
  });
}
