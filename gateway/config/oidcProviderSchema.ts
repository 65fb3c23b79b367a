import { allowRules } from './schemaParts.ts';

/**
 * `oidcProvider:` (used by schema.ts): the clients that may ask Portico, as an OpenID Provider,
 * who the user is. Its type is derived with the rest (`RawConfig['oidcProvider']`).
 *
 * A client: `id`; `secret` (at least 32 characters, from the environment); `redirectUris`,
 * matched exactly; `postLogoutRedirectUris`; `backchannelLogoutUri`, which receives a
 * logout_token whenever a Portico session that signed in to this client ends; `allow`, the same
 * rules as a route's (others get `access_denied`); `pkce` (`optional` by default, so confidential
 * clients such as Keycloak brokers may omit it); `tokenEndpointAuthMethod`, advertised for the
 * client (both secret methods are accepted).
 */
const uri = {
  type: 'string',
  pattern: '^https?://[^\\s#]+$',
  'x-hint': 'an absolute http(s) URL without a fragment',
} as const;

export const oidcProviderSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['clients'],
  properties: {
    clients: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'secret', 'redirectUris'],
        properties: {
          id: {
            type: 'string',
            pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$',
            'x-hint': 'letters, digits, ".", "-" and "_", such as dce5-ghippo',
          },
          secret: { type: 'string', minLength: 1 },
          redirectUris: { type: 'array', minItems: 1, items: uri },
          postLogoutRedirectUris: { type: 'array', items: uri },
          backchannelLogoutUri: uri,
          allow: allowRules,
          pkce: { enum: ['required', 'optional'] },
          tokenEndpointAuthMethod: { enum: ['client_secret_basic', 'client_secret_post'] },
          scopes: {
            type: 'array',
            uniqueItems: true,
            items: { enum: ['openid', 'offline_access', 'profile', 'email', 'groups'] },
          },
        },
      },
    },
  },
} as const;
