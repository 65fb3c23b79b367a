import type { Identity } from '../context.ts';
import { subjectOf } from './subjectOf.ts';

/**
 * Every claim of a signed-in identity; oidc-provider releases those of the granted scopes.
 * `email_verified` follows the core's allow rules: an email counts as verified unless the
 * identity provider said it is not.
 */
export function claimsOf(identity: Identity): Record<string, unknown> {
  const claims: Record<string, unknown> = {
    sub: subjectOf(identity),
    preferred_username: identity.username,
    groups: [...identity.groups],
  };
  if (identity.name) claims.name = identity.name;
  if (identity.email) {
    claims.email = identity.email;
    claims.email_verified = identity.emailVerified !== false;
  }
  return claims;
}
