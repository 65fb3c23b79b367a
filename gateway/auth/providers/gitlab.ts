import type { ProviderDefinition } from '../../config/types.ts';
import type { ClaimMapping } from './claimsToIdentity.ts';
import { type ClaimsCheck, createOidcProvider, type OidcDefinition } from './oidc.ts';
import type { LoginProvider } from './types.ts';

/** `identityProviders[]` with `type: gitlab`, as config/schema.ts defines it. */
export type GitlabDefinition = ProviderDefinition<'gitlab'>;

/** Membership in one of `allowedGroups`, read from the (mapped) groups claim of the ID token. */
export function gitlabClaimsCheck(allowedGroups: string[] | undefined, groupsClaim: string): ClaimsCheck {
  const allowed = (allowedGroups ?? []).map((g) => g.toLowerCase());
  return (claims) => {
    if (allowed.length === 0) return undefined;
    const raw = claims[groupsClaim];
    const groups = Array.isArray(raw) ? raw.map((g) => String(g).toLowerCase()) : [];
    return groups.some((g) => allowed.includes(g))
      ? undefined
      : 'This GitLab account is not a member of a group allowed to sign in here.';
  };
}

/**
 * GitLab sign-in (gitlab.com or self-managed): the generic OpenID Connect provider with GitLab's
 * claim shape — `nickname` is the user name, `groups_direct` the groups (full paths).
 */
export function createGitlabProvider(def: GitlabDefinition): LoginProvider {
  const claims: ClaimMapping = { username: 'nickname', groups: 'groups_direct', ...def.claims };
  const oidc: OidcDefinition = {
    ...def,
    name: def.name ?? 'GitLab',
    issuer: (def.baseUrl ?? 'https://gitlab.com').replace(/\/+$/, ''),
    scopes: def.scopes ?? ['openid', 'profile', 'email'],
    claims,
  };
  return createOidcProvider(oidc, {
    type: 'gitlab',
    check: gitlabClaimsCheck(def.allowedGroups, claims.groups ?? 'groups_direct'),
  });
}
