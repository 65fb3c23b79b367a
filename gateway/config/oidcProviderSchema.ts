import type { RawRoute } from './types.ts';
import { allowRules } from './schemaParts.ts';

/** Schema fragment for `oidcProvider:` (used by schema.ts) and the type it validates. */

export type RawOidcClient = {
  id: string;
  /** At least 32 characters, from the environment (`${GHIPPO_CLIENT_SECRET}`). */
  secret: string;
  /** Matched exactly, byte for byte. */
  redirectUris: string[];
  postLogoutRedirectUris?: string[];
  /** Receives a logout_token whenever a Portico session that signed in to this client ends. */
  backchannelLogoutUri?: string;
  /** Who may use this client (same rules as a route's `allow`); others get `access_denied`. */
  allow?: RawRoute['allow'];
  /** `optional` (default) lets confidential clients such as Keycloak brokers omit PKCE. */
  pkce?: 'required' | 'optional';
  /** Advertised for the client; both secret methods are accepted at the token endpoint. */
  tokenEndpointAuthMethod?: 'client_secret_basic' | 'client_secret_post';
};

export type RawOidcProviderConfig = { clients: RawOidcClient[] };

const uri = {
  type: 'string',
  pattern: '^https?://[^\\s#]+$',
  'x-hint': 'an absolute http(s) URL without a fragment',
};

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
        },
      },
    },
  },
} as const;
