import { size } from './routePolicySchema.ts';
import { duration, listenAddress } from './schemaParts.ts';

/** Schema fragments for `admin:` and `storage:` (used by schema.ts) and the types they validate. */

export const ADMIN_SCOPES = [
  'config:read',
  'config:write',
  'branding:write',
  'sessions:revoke',
  'routes:maintenance',
] as const;
export type AdminScope = (typeof ADMIN_SCOPES)[number];

export const STORAGE_PROVIDERS = ['s3', 'oss', 'cos', 'minio'] as const;
export type StorageProvider = (typeof STORAGE_PROVIDERS)[number];

export type RawAdminConfig = {
  apiKeys?: { id: string; hash: string; scopes: AdminScope[]; description?: string }[];
  /** Serve the admin API only on this listener (default host 127.0.0.1, port 9901). */
  listen?: { host?: string; port?: number };
  rateLimit?: { perMinute?: number; failedAuthPerMinute?: number };
  /** How many `routes.yaml.bak-<time>` files to keep (default 5). */
  backups?: number;
};

export type RawStorageConfig = {
  provider: StorageProvider;
  bucket: string;
  region?: string;
  endpoint?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  /** Prepended to every key, e.g. `portico/`. */
  prefix?: string;
  forcePathStyle?: boolean;
  maxAttempts?: number;
  timeout?: string | number;
  cacheDir?: string;
  spoolDir?: string;
  branding?: { prefix?: string; refresh?: string | number };
  auditArchive?: {
    enabled?: boolean;
    interval?: string | number;
    maxEvents?: number;
    prefix?: string;
    /** The spool's size on disk at most (`256m` by default; 0: no bound). */
    maxSpoolSize?: string | number;
  };
};

const keyPrefix = {
  type: 'string',
  pattern: '^([^/].*/)?$',
  'x-hint': 'a key prefix ending in "/", such as portico/',
} as const;

export const adminSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    apiKeys: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'hash', 'scopes'],
        properties: {
          id: {
            type: 'string',
            pattern: '^[a-z0-9][a-z0-9-]{0,30}$',
            'x-hint': 'lower-case letters, digits and "-" (the id inside ptk_<id>_…)',
          },
          hash: {
            type: 'string',
            pattern: '^sha256:[0-9a-f]{64}$',
            'x-hint': 'the "sha256:…" value printed by `portico hash-key`',
          },
          scopes: { type: 'array', minItems: 1, uniqueItems: true, items: { enum: ADMIN_SCOPES } },
          description: { type: 'string' },
        },
      },
    },
    listen: {
      type: 'object',
      additionalProperties: false,
      properties: {
        ...listenAddress,
      },
    },
    rateLimit: {
      type: 'object',
      additionalProperties: false,
      properties: {
        perMinute: { type: 'integer', minimum: 1 },
        failedAuthPerMinute: { type: 'integer', minimum: 1 },
      },
    },
    backups: { type: 'integer', minimum: 0, maximum: 100 },
  },
} as const;

export const storageSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['provider', 'bucket'],
  properties: {
    provider: { enum: STORAGE_PROVIDERS },
    bucket: {
      type: 'string',
      pattern: '^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$',
      'x-hint': 'a bucket name: 3–63 lower-case letters, digits, "." and "-"',
    },
    region: { type: 'string', minLength: 1 },
    endpoint: { type: 'string', pattern: '^https?://', 'x-hint': 'an http:// or https:// URL' },
    accessKeyId: { type: 'string', minLength: 1 },
    secretAccessKey: { type: 'string', minLength: 1 },
    sessionToken: { type: 'string' },
    prefix: keyPrefix,
    forcePathStyle: { type: 'boolean' },
    maxAttempts: { type: 'integer', minimum: 1, maximum: 10 },
    timeout: duration,
    cacheDir: { type: 'string', minLength: 1 },
    spoolDir: { type: 'string', minLength: 1 },
    branding: {
      type: 'object',
      additionalProperties: false,
      properties: { prefix: keyPrefix, refresh: duration },
    },
    auditArchive: {
      type: 'object',
      additionalProperties: false,
      properties: {
        enabled: { type: 'boolean' },
        interval: duration,
        maxEvents: { type: 'integer', minimum: 1 },
        prefix: keyPrefix,
        maxSpoolSize: size,
      },
    },
  },
  allOf: [
    // MinIO has no default endpoint.
    {
      if: { required: ['provider'], properties: { provider: { const: 'minio' } } },
      then: { required: ['endpoint'] },
    },
    // OSS and COS derive their endpoint from the region and refuse path-style requests.
    {
      if: { required: ['provider'], properties: { provider: { enum: ['oss', 'cos'] } } },
      then: { required: ['region'], properties: { forcePathStyle: { enum: [false] } } },
    },
  ],
} as const;
