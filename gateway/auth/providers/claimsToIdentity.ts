import type { Identity } from '../../context.ts';

export type ClaimMapping = { username?: string; email?: string; name?: string; groups?: string };

/** Maps an IdP's claims to Portico's identity, with per-provider claim names. */
export function claimsToIdentity(
  idp: string,
  claims: Record<string, unknown>,
  mapping: ClaimMapping = {},
): Identity {
  const pick = (name: string | undefined, ...fallbacks: string[]) => {
    for (const key of [name, ...fallbacks]) {
      if (!key) continue;
      const v = claims[key];
      if (typeof v === 'string' && v !== '') return v;
      if (typeof v === 'number') return String(v);
    }
    return undefined;
  };
  const sub = String(claims.sub ?? '');
  const email = pick(mapping.email, 'email');
  const rawGroups = claims[mapping.groups ?? 'groups'];
  const groups = Array.isArray(rawGroups)
    ? rawGroups.map(String)
    : typeof rawGroups === 'string'
      ? rawGroups.split(/[,\s]+/).filter(Boolean)
      : [];
  const emailVerified = verifiedFlag(claims.email_verified);
  // The user name allow rules (`users:`) and upstreams go by. A claim the config names is the only
  // source (when it is missing, the stable `sub`, never a claim the user may choose); otherwise the
  // usual ones, and the address only when the provider did not say it is unverified — anyone can
  // type the CEO's address into an account whose address is not checked.
  const unverifiedEmail = emailVerified === false ? (mapping.email ?? 'email') : undefined;
  const username = mapping.username
    ? mapping.username === unverifiedEmail
      ? undefined
      : pick(mapping.username)
    : pick(undefined, 'preferred_username', 'nickname', ...(unverifiedEmail ? [] : ['email']));
  return {
    idp,
    sub,
    username: username ?? sub,
    email,
    emailVerified,
    name: pick(mapping.name, 'name'),
    groups,
    claims: pickClaims(claims),
  };
}

/** Keeps the claims allow rules may test, without tokens' bookkeeping (exp, nonce, at_hash…). */
function pickClaims(claims: Record<string, unknown>): Record<string, unknown> {
  const skip = new Set([
    'iat',
    'exp',
    'nbf',
    'auth_time',
    'nonce',
    'at_hash',
    'c_hash',
    'sid',
    'azp',
    'aud',
    'jti',
  ]);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(claims)) if (!skip.has(k)) out[k] = v;
  return out;
}

/** `email_verified` as a boolean; Amazon Cognito's userinfo sends the strings "true" and "false". */
function verifiedFlag(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (value === 'true') return true;
  if (value === 'false') return false;
  return undefined;
}
