import { RATE_PATTERN } from './rate.ts';
import { duration, headerName, localised } from './schemaParts.ts';
import { SIZE_PATTERN } from './size.ts';

/**
 * Schema fragments for what a route decides besides where it forwards: its host, public paths,
 * body and rate limits, address lists, fixed answers, CORS preflights and header policy
 * (gateway/routePolicy/). Checks the schema cannot express are in routePolicyProblems.ts.
 */

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

export const size = {
  anyOf: [
    { type: 'string', pattern: SIZE_PATTERN },
    { type: 'integer', minimum: 0 },
  ],
  'x-hint': 'a size such as 512k, 100m or 10g, or a number of bytes (0: no limit)',
} as const;

const rate = {
  type: 'string',
  pattern: RATE_PATTERN,
  'x-hint': 'requests per time, such as 100/1m, 10/s or 5000/1h',
} as const;

const addressList = {
  type: 'array',
  minItems: 1,
  items: { type: 'string', minLength: 1, 'x-hint': 'an IP address or CIDR such as 10.0.0.0/8' },
} as const;

/** What Node accepts in a header value: no control characters but tab, no line breaks. */
const headerValue = {
  type: 'string',
  pattern: '^[\\t\\x20-\\x7e\\x80-\\xff]*$',
  'x-hint': 'a header value without line breaks or characters beyond Latin-1',
} as const;

const headerOperations = {
  type: 'object',
  additionalProperties: false,
  properties: {
    set: { type: 'object', propertyNames: headerName, additionalProperties: headerValue },
    remove: { type: 'array', items: headerName },
  },
} as const;

export const maintenanceSchema = {
  anyOf: [
    { type: 'boolean' },
    {
      type: 'object',
      additionalProperties: false,
      properties: { retryAfter: duration, message: localised },
    },
  ],
  'x-hint': 'true, or { retryAfter: 10m, message: { zh-CN: …, en-US: … } }',
} as const;

export const routePolicyProperties = {
  host: {
    type: 'string',
    pattern: '^(\\*\\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$',
    'x-hint': 'a host name such as ai.example.com, or *.example.com (no port)',
  },
  public: {
    type: 'array',
    minItems: 1,
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['path'],
      properties: {
        path: {
          type: 'string',
          pattern: '^/[^?#\\s]*$',
          'x-hint': 'a path under the route, such as /dce5/static/',
        },
        methods: { type: 'array', minItems: 1, uniqueItems: true, items: { enum: HTTP_METHODS } },
      },
    },
  },
  maxBodySize: size,
  rateLimit: {
    type: 'object',
    additionalProperties: false,
    minProperties: 1,
    properties: {
      perIp: rate,
      perUser: rate,
      concurrentPerIp: { type: 'integer', minimum: 1, maximum: 100000 },
    },
  },
  ipAllow: addressList,
  ipDeny: addressList,
  maintenance: maintenanceSchema,
  respond: {
    type: 'object',
    additionalProperties: false,
    required: ['status'],
    properties: {
      status: { type: 'integer', minimum: 200, maximum: 599 },
      body: { type: 'string' },
      headers: { type: 'object', propertyNames: headerName, additionalProperties: headerValue },
    },
  },
  redirect: {
    type: 'object',
    additionalProperties: false,
    required: ['to'],
    properties: {
      to: { type: 'string', minLength: 1, 'x-hint': 'an http(s) URL or a path starting with /' },
      status: { enum: [301, 302, 303, 307, 308] },
      keepPath: { type: 'boolean' },
    },
  },
  cors: {
    type: 'object',
    additionalProperties: false,
    properties: { allowPreflight: { type: 'boolean' } },
  },
  headers: {
    type: 'object',
    additionalProperties: false,
    properties: { request: headerOperations, response: headerOperations },
  },
  securityHeaders: { type: 'boolean' },
} as const;
