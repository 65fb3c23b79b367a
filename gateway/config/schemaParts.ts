import { DURATION_PATTERN } from './duration.ts';

/** Schema pieces every config file shares (routes.yaml and its sections, brand.yaml). */
export const duration = {
  anyOf: [
    { type: 'string', pattern: DURATION_PATTERN },
    { type: 'number', minimum: 0 },
  ],
  'x-hint': 'a duration such as 300s, 5m or 8h',
} as const;

/** `host` and `port` of a listener (the gateway's, the admin API's, the metrics endpoint's). */
export const listenAddress = {
  host: { type: 'string', minLength: 1 },
  port: { type: 'integer', minimum: 0, maximum: 65535 },
} as const;

const stringList = { type: 'array', items: { type: 'string', minLength: 1 } } as const;

/** Who may pass: a route's `allow`, and an OpenID Provider client's (any matching rule admits). */
export const allowRules = {
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
} as const;

/** A text in one language for all, or per language (`{ zh-CN: …, en-US: … }`). */
export const localised = {
  anyOf: [
    { type: 'string', minLength: 1 },
    { type: 'object', additionalProperties: { type: 'string' }, minProperties: 1 },
  ],
} as const;

/** An HTTP header name (RFC 9110 token). */
export const headerName = {
  type: 'string',
  pattern: "^[A-Za-z0-9!#$%&'*+.^_`|~-]+$",
  'x-hint': 'an HTTP header name such as X-Frame-Options',
} as const;
