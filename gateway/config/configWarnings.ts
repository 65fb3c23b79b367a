import { TOKEN_CHECKING_TYPES } from '../auth/authenticate.ts';
import type { AllowRules, Config } from './types.ts';

/**
 * `allow` rules that no signed-in user can pass: with several identity providers and none primary
 * (`identity.primaryProvider`), every user's names are qualified `<idp>:…` (qualifyIdentity.ts), and
 * so are the emails, domains and claims rules that speak of them (auth/isAllowed.ts) — a bare
 * `groups: [admins]` or `domains: [corp.example]` then admits only Portico API keys. Said at start
 * and at every reload, naming the routes and OpenID Provider clients: the config is valid, and a
 * rule meant for API keys alone may be meant that way.
 */
export function bareRulesWithoutPrimary(config: Config): string[] {
  if (config.primaryIdp !== undefined || config.identityProviders.length < 2) return [];
  const ids = config.identityProviderIds;
  const qualified = (v: string) => {
    const colon = v.indexOf(':');
    return colon > 0 && ids.has(v.slice(0, colon));
  };
  const bare = (allow: AllowRules | undefined) =>
    allow !== undefined &&
    ([allow.users, allow.groups, allow.emails, allow.domains].some((list) =>
      list?.some((v) => !qualified(v)),
    ) ||
      Object.keys(allow.claims ?? {}).some((k) => !qualified(k)));
  const out = config.routes.filter((r) => bare(r.allow)).map((r) => `routes.${r.id}`);
  for (const c of config.raw.oidcProvider?.clients ?? [])
    if (bare(c.allow)) out.push(`oidcProvider.clients.${c.id}`);
  return out;
}

/**
 * Metrics served on the main listener without a token: every route id, provider id, sign-in
 * counts and upstream states to anyone who can reach the portal. Valid (a listener on a private
 * network may mean it), so said as a warning when a public URL says the listener is the portal's.
 */
export function openMetricsOnPublicListener(config: Config): boolean {
  const m = config.raw.metrics;
  return config.publicUrl !== undefined && m?.enabled !== false && !m?.listen && !m?.token;
}

/**
 * A `session.cookieName` with the `__Host-` or `__Secure-` prefix behind an http publicUrl: the
 * cookie is always set Secure (browsers refuse those names otherwise), and a browser keeps no
 * Secure cookie from an http page — every sign-in would end on the sign-in page again. Valid (a
 * TLS proxy in front may serve the portal over https whatever publicUrl says), so a warning.
 */
export function secureCookieOverHttp(config: Config): boolean {
  const name = config.session.cookieName;
  return (
    (name.startsWith('__Host-') || name.startsWith('__Secure-')) && config.publicUrl?.protocol === 'http:'
  );
}

/**
 * `emails`/`domains` rules about users of an LDAP or SAML provider without `trustEmail: true`:
 * those providers never say they verified an address, so such rules admit none of their users
 * (auth/isAllowed.ts). Names the routes and OpenID Provider clients, with the providers.
 */
export function emailRulesNoOnePasses(config: Config): string[] {
  const silent = new Set(
    config.identityProviders
      .filter(
        (p) =>
          (p.type === 'ldap' || p.type === 'saml') && (p as { trustEmail?: boolean }).trustEmail !== true,
      )
      .map((p) => p.id),
  );
  if (silent.size === 0) return [];
  const speaksOf = (value: string): string | undefined => {
    const colon = value.indexOf(':');
    const idp = colon > 0 ? value.slice(0, colon) : undefined;
    return idp !== undefined && config.identityProviderIds.has(idp) ? idp : config.primaryIdp;
  };
  const stuck = (allow: AllowRules | undefined) =>
    [...(allow?.emails ?? []), ...(allow?.domains ?? [])]
      .map(speaksOf)
      .filter((idp): idp is string => idp !== undefined && silent.has(idp));
  const out: string[] = [];
  for (const r of config.routes)
    for (const idp of new Set(stuck(r.allow))) out.push(`routes.${r.id} (${idp})`);
  for (const c of config.raw.oidcProvider?.clients ?? [])
    for (const idp of new Set(stuck(c.allow))) out.push(`oidcProvider.clients.${c.id} (${idp})`);
  return out;
}

/**
 * `bearer: verify` routes that refuse every opaque (non-JWT) token: several providers check tokens,
 * none is primary and the route names none in `bearerProviders`, and an opaque token is handed to
 * one provider only (authenticate.ts tokenVerifiers). JWTs still work, so it is a warning.
 */
export function opaqueTokensNoOneChecks(config: Config): string[] {
  const checking = config.identityProviders.filter((p) => TOKEN_CHECKING_TYPES.has(p.type));
  if (checking.length < 2 || checking.some((p) => p.id === config.primaryIdp)) return [];
  return config.routes
    .filter((r) => r.bearer === 'verify' && r.bearerProviders === undefined)
    .map((r) => `routes.${r.id}`);
}
