import type { Identity } from '../context.ts';
import { GatewayError } from '../errors.ts';

/**
 * Names from different identity providers never collide: users and groups of every provider
 * but the primary one are qualified `<idp>:<name>`, in allow rules and in what upstreams receive.
 * A partner IdP whose user calls itself `alice`, or claims the group `admins`, is `partner:alice`
 * in `partner:admins`. The primary provider (`identity.primaryProvider`, or the only one
 * configured) keeps bare names, as the products behind Portico know them. Applied once, when the
 * identity is made (sign-in, a verified bearer token): what a session stores is already qualified.
 * And the other way round: a primary user named `partner:alice` would be the partner's alice, so
 * that sign-in is refused, and a primary group named `partner:admins` is left out. Groups whose
 * name holds a comma are left out for every provider (upstreams split the groups header on it).
 */
export function qualifyIdentity(
  identity: Identity,
  primaryIdp: string | undefined,
  providerIds: ReadonlySet<string> = new Set(),
): Identity {
  // Upstreams get the groups comma-joined in one header: a group named `x,admins` (a partner IdP's
  // claim, an LDAP cn with a comma) would reach them as the bare group `admins`. Left out.
  if (identity.groups.some((g) => g.includes(',')))
    identity = { ...identity, groups: identity.groups.filter((g) => !g.includes(',')) };
  if (identity.idp === primaryIdp) {
    const taken = (name: string) => {
      const colon = name.indexOf(':');
      return colon > 0 && providerIds.has(name.slice(0, colon)) && name.slice(0, colon) !== primaryIdp;
    };
    if (taken(identity.username))
      throw new GatewayError('PORTICO_ERR_FORBIDDEN', {
        detail: 'This user name is written as a user of another sign-in method; ask an administrator.',
      });
    return identity.groups.some(taken)
      ? { ...identity, groups: identity.groups.filter((g) => !taken(g)) }
      : identity;
  }
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
