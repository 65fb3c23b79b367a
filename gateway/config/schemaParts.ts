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
