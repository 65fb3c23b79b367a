import { duration } from './schemaParts.ts';

const hostPort = {
  type: 'object',
  additionalProperties: false,
  required: ['host', 'port'],
  properties: {
    host: { type: 'string', minLength: 1 },
    port: { type: 'integer', minimum: 1, maximum: 65535 },
  },
} as const;

/**
 * `session.redis`: one Redis (`url`, or `host`/`port`), a Sentinel set (`sentinels` + `name`) or a
 * cluster (`cluster`). Only these keys reach ioredis (gateway/auth/redis.ts maps them), so a typo
 * is an error here rather than an option ioredis silently ignores.
 */
export const redisSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    url: { type: 'string', pattern: '^rediss?://', 'x-hint': 'redis://host:6379/0 or rediss:// for TLS' },
    host: { type: 'string', minLength: 1 },
    port: { type: 'integer', minimum: 1, maximum: 65535 },
    username: { type: 'string', minLength: 1 },
    password: { type: 'string', minLength: 1 },
    db: { type: 'integer', minimum: 0 },
    tls: {
      anyOf: [
        { type: 'boolean' },
        {
          type: 'object',
          additionalProperties: false,
          properties: {
            ca: { type: 'string', minLength: 1, 'x-hint': 'a PEM text or the path of a PEM file' },
            serverName: { type: 'string', minLength: 1 },
            insecureSkipVerify: { type: 'boolean' },
          },
        },
      ],
    },
    keyPrefix: {
      type: 'string',
      pattern: '^[A-Za-z0-9:._-]{1,64}$',
      'x-hint': 'a short prefix such as "portico:" (replicas of one deployment share it)',
    },
    sentinels: { type: 'array', items: hostPort, minItems: 1 },
    name: { type: 'string', minLength: 1, 'x-hint': 'the Sentinel master name, such as mymaster' },
    sentinelUsername: { type: 'string', minLength: 1 },
    sentinelPassword: { type: 'string', minLength: 1 },
    cluster: { type: 'array', items: hostPort, minItems: 1 },
    connectTimeout: duration,
    commandTimeout: duration,
  },
} as const;
