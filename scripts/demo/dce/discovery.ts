import type { RealmUrls } from './realmUrls.ts';

/** The realm's `.well-known/openid-configuration`, in Keycloak's shape (the parts this realm does). */
export function discoveryDocument(urls: RealmUrls): Record<string, unknown> {
  return {
    issuer: urls.issuer,
    authorization_endpoint: urls.authorization,
    token_endpoint: urls.token,
    userinfo_endpoint: urls.userinfo,
    end_session_endpoint: urls.logout,
    jwks_uri: urls.certs,
    frontchannel_logout_supported: false,
    backchannel_logout_supported: true,
    backchannel_logout_session_supported: true,
    grant_types_supported: ['authorization_code', 'refresh_token'],
    response_types_supported: ['code'],
    response_modes_supported: ['query'],
    subject_types_supported: ['public'],
    id_token_signing_alg_values_supported: ['RS256'],
    token_endpoint_auth_methods_supported: ['none'],
    code_challenge_methods_supported: ['S256'],
    scopes_supported: ['openid', 'profile', 'email'],
    claims_supported: [
      'sub',
      'iss',
      'aud',
      'exp',
      'iat',
      'auth_time',
      'sid',
      'preferred_username',
      'email',
      'email_verified',
      'name',
    ],
    authorization_response_iss_parameter_supported: true,
  };
}
