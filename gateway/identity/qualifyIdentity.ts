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
 * Nor may a name read as another once in a header (see misread): such a user is refused, such a
 * group left out.
 */
export function qualifyIdentity(
  identity: Identity,
  primaryIdp: string | undefined,
  providerIds: ReadonlySet<string> = new Set(),
): Identity {
  if (misread(identity.username))
    throw new GatewayError('PORTICO_ERR_FORBIDDEN', {
      detail: 'This user name holds characters that cannot be passed on; ask an administrator.',
    });
  // Upstreams get the groups comma-joined in one header: a group named `x,admins` (a partner IdP's
  // claim, an LDAP cn with a comma) would reach them as the bare group `admins`. Left out.
  if (identity.groups.some((g) => g.includes(',') || misread(g)))
    identity = { ...identity, groups: identity.groups.filter((g) => !g.includes(',') && !misread(g)) };
  if (identity.idp === primaryIdp) {
    const taken = (name: string) => nameOfAnotherProvider(name, primaryIdp, providerIds);
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

/**
 * Whether a primary provider's name reads as another provider's: `partner:alice` once a provider
 * `partner` is configured. In any case (`Partner:alice`): provider ids are lower case, and an
 * upstream that folds the case of logins (Grafana) would take it for the partner's user.
 */
function nameOfAnotherProvider(
  name: string,
  primaryIdp: string | undefined,
  providerIds: ReadonlySet<string>,
): boolean {
  const colon = name.indexOf(':');
  if (colon <= 0) return false;
  const idp = name.slice(0, colon).toLowerCase();
  return idp !== primaryIdp && providerIds.has(idp);
}

/**
 * Whether an identity of the primary provider, qualified under an earlier config, holds a name
 * another provider now has (a reload added `partner`): its session no longer means what it did.
 */
export function namesTakenSince(
  identity: Identity,
  primaryIdp: string | undefined,
  providerIds: ReadonlySet<string>,
): boolean {
  if (identity.idp !== primaryIdp) return false;
  return (
    nameOfAnotherProvider(identity.username, primaryIdp, providerIds) ||
    identity.groups.some((g) => nameOfAnotherProvider(g, primaryIdp, providerIds))
  );
}

/** The subject upstreams see in the assertion: bare for the primary provider, qualified otherwise. */
export function qualifiedSubject(identity: Identity, primaryIdp: string | undefined): string {
  return identity.idp === primaryIdp || identity.idp === 'apikey'
    ? identity.sub
    : `${identity.idp}:${identity.sub}`;
}

/**
 * Whether an upstream would read the name as another one: identity headers drop control
 * characters (headerValue.ts: `ali\u0000ce` arrives as `alice`) and HTTP drops the blanks around a
 * header value (`alice ` and `\talice` arrive as `alice`; a Go or Java upstream that trims takes
 * Unicode spaces too, and a list's items are trimmed after the split: ` admins`). Allow rules
 * would judge the name Portico holds while the upstream acts as the user it reads.
 */
function misread(name: string): boolean {
  return /[\x00-\x1f\x7f]/.test(name) || /^[\s\u0085]|[\s\u0085]$/u.test(name);
}
