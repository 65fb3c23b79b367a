/**
 * routes.yaml keys for operations: `metrics`, `health`, `sentry`, `audit` and `notifications`.
 * schema.ts uses these fragments; the types below are what the operations feature reads from
 * `config().raw` (validated, so the casts in gateway/ops/ are safe).
 */
import { duration, listenAddress } from './schemaParts.ts';

const httpUrl = { type: 'string', pattern: '^https?://', 'x-hint': 'an http:// or https:// URL' } as const;

export const NOTIFICATION_EVENTS = [
  'upstream.down',
  'upstream.up',
  'config.reloaded',
  'config.rejected',
  'auth.failure_burst',
  'admin.change',
] as const;
export type NotificationEventType = (typeof NOTIFICATION_EVENTS)[number];

export const SINK_TYPES = ['dingtalk', 'feishu', 'wecom', 'slack', 'webhook'] as const;
export type SinkType = (typeof SINK_TYPES)[number];

export const notificationsSchema = {
  type: 'array',
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['type', 'webhook'],
    properties: {
      type: { enum: SINK_TYPES },
      /** Label in metrics and logs; defaults to the type (add one when two sinks share a type). */
      id: {
        type: 'string',
        pattern: '^[a-z0-9][a-z0-9_-]{0,62}$',
        'x-hint': 'lower-case letters, digits, "-" and "_"',
      },
      webhook: httpUrl,
      secret: { type: 'string', minLength: 1 },
      events: { type: 'array', items: { enum: NOTIFICATION_EVENTS }, minItems: 1, uniqueItems: true },
      lang: { enum: ['zh-CN', 'en-US'] },
      /** markdown (default) or plain text; the generic webhook always sends both. */
      msgtype: { enum: ['markdown', 'text'] },
      /** Events about the same thing (an upstream, the config) within this window are merged. */
      dedupWindow: duration,
      retries: { type: 'integer', minimum: 0, maximum: 10 },
      retryBackoff: duration,
      timeout: duration,
    },
    allOf: [{ if: { properties: { type: { const: 'webhook' } } }, then: { required: ['secret'] } }],
  },
} as const;

export const metricsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    enabled: { type: 'boolean' },
    token: {
      type: 'string',
      minLength: 16,
      'x-hint': 'a bearer token of at least 16 characters (from ${METRICS_TOKEN})',
    },
    listen: {
      type: 'object',
      additionalProperties: false,
      required: ['port'],
      properties: {
        ...listenAddress,
      },
    },
  },
} as const;

export const healthSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    /** Active upstream checks (default true once `health` is present). */
    checks: { type: 'boolean' },
    interval: duration,
    timeout: duration,
    unhealthyThreshold: { type: 'integer', minimum: 1, maximum: 100 },
    healthyThreshold: { type: 'integer', minimum: 1, maximum: 100 },
    /** Per route id: the path to check instead of the upstream's base URL. */
    path: {
      type: 'object',
      additionalProperties: { type: 'string', pattern: '^/', 'x-hint': 'a path starting with "/"' },
    },
    uptimeKuma: {
      type: 'object',
      additionalProperties: false,
      required: ['pushUrl'],
      properties: { pushUrl: httpUrl, interval: duration },
    },
  },
} as const;

export const sentrySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    /** Empty (`${SENTRY_DSN:-}`) turns Sentry off. */
    dsn: { type: 'string', pattern: '^(https?://.+)?$', 'x-hint': 'a Sentry DSN (https://key@host/project)' },
    environment: { type: 'string', minLength: 1 },
    release: { type: 'string', minLength: 1 },
    sampleRate: { type: 'number', minimum: 0, maximum: 1 },
    tracesSampleRate: { type: 'number', minimum: 0, maximum: 1 },
  },
} as const;

export const auditSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    file: { type: 'string', minLength: 1 },
    stdout: { type: 'boolean' },
    /** auth.failure_burst: this many failed logins within the window raise one alert. */
    loginFailureBurst: {
      type: 'object',
      additionalProperties: false,
      properties: { threshold: { type: 'integer', minimum: 1 }, window: duration },
    },
  },
} as const;

type Duration = string | number;

export type NotificationSinkConfig = {
  type: SinkType;
  id?: string;
  webhook: string;
  secret?: string;
  events?: NotificationEventType[];
  lang?: 'zh-CN' | 'en-US';
  msgtype?: 'markdown' | 'text';
  dedupWindow?: Duration;
  retries?: number;
  retryBackoff?: Duration;
  timeout?: Duration;
};

export type MetricsConfig = {
  enabled?: boolean;
  token?: string;
  listen?: { host?: string; port: number };
};

export type HealthConfig = {
  checks?: boolean;
  interval?: Duration;
  timeout?: Duration;
  unhealthyThreshold?: number;
  healthyThreshold?: number;
  path?: Record<string, string>;
  uptimeKuma?: { pushUrl: string; interval?: Duration };
};

export type SentryConfig = {
  dsn?: string;
  environment?: string;
  release?: string;
  sampleRate?: number;
  tracesSampleRate?: number;
};

export type AuditConfig = {
  file?: string;
  stdout?: boolean;
  loginFailureBurst?: { threshold?: number; window?: Duration };
};

/** The operations keys of routes.yaml, as `config().raw` holds them after validation. */
export type OpsConfig = {
  notifications?: NotificationSinkConfig[];
  metrics?: MetricsConfig;
  health?: HealthConfig;
  sentry?: SentryConfig;
  audit?: AuditConfig;
};
