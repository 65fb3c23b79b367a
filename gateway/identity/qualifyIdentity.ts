import type { Identity } from '../context.ts';

/**
 * Names from different identity providers never collide: users and groups of every provider
 * but the primary one are qualified `<idp>:<name>`, in allow rules and in what upstreams receive.
 * A partner IdP whose user calls itself `alice`, or claims the group `admins`, is `partner:alice`
 * in `partner:admins`. The primary provider (`identity.primaryProvider`, or the only one
 * configured) keeps bare names, as the products behind Portico know them. Applied once, when the
 * identity is made (sign-in, a verified bearer token): what a session stores is already qualified.
 */
export function qualifyIdentity(identity: Identity, primaryIdp: string | undefined): Identity {
  if (identity.idp === primaryIdp) return identity;
  const prefix = `${identity.idp}:`;
  return {
    ...identity,
    username: prefix + identity.username,
    groups: identity.groups.map((g) => prefix + g),
  };
}

/** The subject upstreams see in the assertion: bare for the primary provider, qualified otherwise. */
export function qualifiedSubject(identity: Identity, primaryIdp: string | undefined): string {
  return identity.idp === primaryIdp || identity.idp === 'apikey'
    ? identity.sub
    : `${identity.idp}:${identity.sub}`;
}
