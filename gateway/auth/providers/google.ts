import type { ProviderDefinition } from '../../config/types.ts';
import { type ClaimsCheck, createOidcProvider, type OidcDefinition } from './oidc.ts';
import type { LoginProvider } from './types.ts';

/** `identityProviders[]` with `type: google`, as config/schema.ts defines it. */
export type GoogleDefinition = ProviderDefinition<'google'>;

export const GOOGLE_ISSUER = 'https://accounts.google.com';

/**
 * The ID token check behind `hostedDomain`. The `hd` authorization parameter only narrows
 * Google's account picker; anyone can remove it from the URL, so the signed `hd` claim decides.
 * Consumer accounts carry no `hd` at all. The address must be verified either way.
 */
export function googleClaimsCheck(hostedDomain: string | string[] | undefined): ClaimsCheck {
  const domains = (Array.isArray(hostedDomain) ? hostedDomain : hostedDomain ? [hostedDomain] : []).map((d) =>
    d.toLowerCase(),
  );
  return (claims) => {
    if (claims.email_verified !== true) return 'Google has not verified this account’s e-mail address.';
    if (domains.length === 0) return undefined;
    const hd = typeof claims.hd === 'string' ? claims.hd.toLowerCase() : undefined;
    if (!hd || !domains.includes(hd))
      return `This Google account does not belong to ${domains.join(' or ')}.`;
    return undefined;
  };
}

/** Google sign-in: the generic OpenID Connect provider with Google's issuer and the `hd` rule. */
export function createGoogleProvider(def: GoogleDefinition): LoginProvider {
  const domains = Array.isArray(def.hostedDomain)
    ? def.hostedDomain
    : def.hostedDomain
      ? [def.hostedDomain]
      : [];
  const oidc: OidcDefinition = {
    ...def,
    name: def.name ?? 'Google',
    issuer: def.issuer ?? GOOGLE_ISSUER,
    scopes: def.scopes ?? ['openid', 'email', 'profile'],
    // Google sends no preferred_username: the address is the user name unless mapped otherwise.
    claims: { username: 'email', ...def.claims },
    authorizationParams: {
      // One domain preselects it in Google's account chooser; several: any Workspace account.
      ...(domains.length > 0 ? { hd: domains.length === 1 ? domains[0]! : '*' } : {}),
      ...def.authorizationParams,
    },
  };
  return createOidcProvider(oidc, { type: 'google', check: googleClaimsCheck(def.hostedDomain) });
}
