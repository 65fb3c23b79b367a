import type { RawOidcClient } from '../config/types.ts';
import type { Payload } from './types.ts';

/**
 * A client of routes.yaml as oidc-provider registers it. With a back-channel logout URI the ID
 * tokens carry `sid`, the session id its logout tokens name (Keycloak finds the brokered session by it).
 */
export function clientMetadata(client: RawOidcClient): Payload {
  return {
    client_id: client.id,
    client_secret: client.secret,
    redirect_uris: [...client.redirectUris],
    post_logout_redirect_uris: [...(client.postLogoutRedirectUris ?? [])],
    response_types: ['code'],
    grant_types: ['authorization_code', 'refresh_token'],
    token_endpoint_auth_method: client.tokenEndpointAuthMethod ?? 'client_secret_basic',
    id_token_signed_response_alg: 'RS256',
    // oidc-provider refuses a request for a scope outside the client's list (invalid_scope).
    ...(client.scopes ? { scope: [...new Set(['openid', ...client.scopes])].join(' ') } : {}),
    ...(client.backchannelLogoutUri
      ? { backchannel_logout_uri: client.backchannelLogoutUri, backchannel_logout_session_required: true }
      : {}),
  };
}
