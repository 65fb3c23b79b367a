import { DURATION_PATTERN } from './duration.ts';
import { auditSchema, healthSchema, metricsSchema, notificationsSchema, sentrySchema } from './opsSchema.ts';

const duration = {
  anyOf: [
    { type: 'string', pattern: DURATION_PATTERN },
    { type: 'number', minimum: 0 },
  ],
  'x-hint': 'a duration such as 300s, 5m or 8h',
};
const id = {
  type: 'string',
  pattern: '^[a-z0-9][a-z0-9_-]{0,62}$',
  'x-hint': 'lower-case letters, digits, "-" and "_"',
};
const stringList = { type: 'array', items: { type: 'string', minLength: 1 } };
const localised = {
  anyOf: [
    { type: 'string', minLength: 1 },
    { type: 'object', additionalProperties: { type: 'string' }, minProperties: 1 },
  ],
};
const headerName = { type: 'string', pattern: "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$" };

const upstreamTls = {
  type: 'object',
  additionalProperties: false,
  properties: {
    insecureSkipVerify: { type: 'boolean' },
    ca: { type: 'string' },
    serverName: { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
  },
};

const route = {
  type: 'object',
  additionalProperties: false,
  required: ['id', 'path', 'upstream'],
  properties: {
    id,
    path: { type: 'string', pattern: '^/[^?#\\s]*$', 'x-hint': 'a path starting with "/", such as /dce5/' },
    upstream: { type: 'string', pattern: '^https?://', 'x-hint': 'an http:// or https:// URL' },
    tls: upstreamTls,
    websocket: { type: 'boolean' },
    preserveHost: { type: 'boolean' },
    timeouts: {
      type: 'object',
      additionalProperties: false,
      properties: { connect: duration, idle: duration },
    },
    auth: { enum: ['required', 'optional', 'none'] },
    allow: {
      type: 'object',
      additionalProperties: false,
      properties: {
        groups: stringList,
        emails: stringList,
        domains: stringList,
        users: stringList,
        idps: stringList,
        claims: {
          type: 'object',
          additionalProperties: { anyOf: [{ type: 'string' }, stringList, { type: 'boolean' }] },
        },
      },
    },
    inject: {
      type: 'object',
      additionalProperties: false,
      properties: {
        headers: { type: 'boolean' },
        jwt: { type: 'boolean' },
        accessToken: { type: 'boolean' },
      },
    },
    rewrite: {
      type: 'object',
      additionalProperties: false,
      properties: { location: { type: 'boolean' }, cookiePath: { type: 'boolean' } },
    },
    branding: { type: 'boolean' },
    nav: {
      type: 'object',
      additionalProperties: false,
      required: ['title'],
      properties: {
        title: localised,
        order: { type: 'number' },
        icon: { type: 'string' },
        path: { type: 'string' },
      },
    },
  },
};

const identityProvider = {
  type: 'object',
  required: ['id', 'type'],
  properties: {
    id,
    type: { enum: ['oidc', 'github', 'google', 'gitlab', 'ldap', 'saml'] },
    name: localised,
  },
  allOf: [
    {
      if: { properties: { type: { const: 'oidc' } } },
      then: {
        required: ['issuer', 'clientId'],
        properties: {
          issuer: { type: 'string', pattern: '^https?://' },
          clientId: { type: 'string', minLength: 1 },
          clientSecret: { type: 'string' },
          scopes: stringList,
        },
      },
    },
  ],
};

export const configSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    listen: {
      type: 'object',
      additionalProperties: false,
      properties: {
        host: { type: 'string', minLength: 1 },
        port: { type: 'integer', minimum: 0, maximum: 65535 },
        tls: {
          type: 'object',
          additionalProperties: false,
          required: ['cert', 'key'],
          properties: { cert: { type: 'string' }, key: { type: 'string' } },
        },
      },
    },
    publicUrl: {
      type: 'string',
      pattern: '^https?://[^/?#]+/?$',
      'x-hint': 'an origin such as https://portal.example.com',
    },
    trustProxy: { anyOf: [{ type: 'boolean' }, stringList] },
    session: {
      type: 'object',
      additionalProperties: false,
      properties: {
        secret: {
          anyOf: [
            { type: 'string', minLength: 32 },
            { type: 'array', items: { type: 'string', minLength: 32 }, minItems: 1 },
          ],
          'x-hint': 'a random string of at least 32 characters (or a list of them, newest first, to rotate)',
        },
        store: { enum: ['memory', 'redis'] },
        redis: { type: 'object' },
        maxAge: duration,
        idleTimeout: duration,
        cookieName: { type: 'string', pattern: '^[A-Za-z0-9_.-]+$' },
        maxEntries: { type: 'integer', minimum: 1 },
        cacheTtl: duration,
      },
    },
    identityProviders: { type: 'array', items: identityProvider },
    identity: {
      type: 'object',
      additionalProperties: false,
      properties: {
        headers: {
          type: 'object',
          additionalProperties: false,
          properties: { user: headerName, email: headerName, groups: headerName, name: headerName },
        },
        jwt: {
          type: 'object',
          additionalProperties: false,
          properties: {
            header: headerName,
            ttl: duration,
            keys: {
              type: 'object',
              additionalProperties: false,
              properties: {
                store: { enum: ['memory', 'file', 'redis'] },
                file: { type: 'string' },
                rotateEvery: duration,
              },
            },
          },
        },
      },
    },
    routes: { type: 'array', items: route },
    apiKeys: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'hash'],
        properties: {
          id,
          hash: { type: 'string', pattern: '^sha256:[0-9a-f]{64}$', 'x-hint': 'a hash printed by `portico hash-key`' },
          username: { type: 'string' },
          email: { type: 'string' },
          name: { type: 'string' },
          groups: stringList,
        },
      },
    },
    branding: { type: 'object' },
    nav: { type: 'object' },
    notifications: notificationsSchema,
    storage: { type: 'object' },
    admin: { type: 'object' },
    metrics: metricsSchema,
    health: healthSchema,
    sentry: sentrySchema,
    audit: auditSchema,
    logging: {
      type: 'object',
      additionalProperties: false,
      properties: {
        level: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] },
        accessLog: { type: 'boolean' },
      },
    },
    limits: {
      type: 'object',
      additionalProperties: false,
      properties: {
        headersTimeout: duration,
        requestTimeout: duration,
        maxHeaderSize: { type: 'integer', minimum: 1024 },
        maxUrlLength: { type: 'integer', minimum: 256 },
      },
    },
  },
} as const;
