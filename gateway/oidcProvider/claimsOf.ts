import type { Identity } from '../context.ts';
import { subjectOf } from './subjectOf.ts';

/**
 * Every claim of a signed-in identity; oidc-provider releases those of the granted scopes.
 * `email_verified` is true only when the identity provider said it verified the address (OIDC's
 * `email_verified`, GitHub's verified primary address) or the provider is trusted for its emails
 * (`trustEmail: true`) and did not say otherwise. A client such as DCE 5's Keycloak may link
 * accounts by a verified email: an LDAP user who can edit their own `mail`, or a partner IdP,
 * must not become someone else there.
 */
export function claimsOf(identity: Identity, trustEmail = false): Record<string, unknown> {
  const claims: Record<string, unknown> = {
    sub: subjectOf(identity),
    preferred_username: identity.username,
    groups: [...identity.groups],
  };
  if (identity.name) claims.name = identity.name;
  if (identity.email) {
    claims.email = identity.email;
    claims.email_verified =
      identity.emailVerified === true || (trustEmail && identity.emailVerified !== false);
  }
  return claims;
}
