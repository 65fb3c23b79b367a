import type { AllowRules, Config } from '../config/types.ts';
import type { Identity } from '../context.ts';

/** What `allow` rules are judged with besides the identity: which provider's names are bare, and which providers are trusted for their addresses. */
export type AllowContext = Pick<Config, 'primaryIdp' | 'identityProviders'>;

/**
 * `allow` rules (of a route, or an OpenID Provider client): a user passes when ANY listed rule matches (groups, users, emails,
 * email domains, identity providers, claims). No rules means any signed-in user. Emails are
 * compared whole and case-insensitively, and only when they have exactly one `@`; a domain rule
 * matches the part after it exactly (`example.com` never matches `evil-example.com` nor
 * `example.com.evil.io`), or a subdomain when written `.example.com`.
 *
 * Emails, domains and claims follow the names' rule (qualifyIdentity.ts): a bare rule speaks of the
 * primary provider's users (and API keys), a rule written `<idp>:…` of that provider's — a partner
 * IdP that says its user is ceo@corp.example, or in the `admins` claim, passes neither
 * `emails: [ceo@corp.example]` nor `domains: [corp.example]` nor `claims: {groups: [admins]}`;
 * `domains: ["github:corp.example"]` admits GitHub users with a verified corp address. An address
 * the provider says it did not verify (`email_verified: false`) never counts. One it says nothing
 * about counts from an OIDC-family provider (oauth2-proxy's reading: Entra ID and ADFS never send
 * `email_verified`, and their addresses are the directory's), but not from LDAP or SAML unless
 * `trustEmail: true` (a directory whose users may edit their own mail; configWarnings.ts names
 * such rules). Stricter than this only where Portico vouches for an address to others: the OpenID
 * Provider's `email_verified` needs the provider's word or `trustEmail` (oidcProvider/claimsOf.ts).
 */
export function isAllowed(
  allow: AllowRules | undefined,
  identity: Identity | undefined,
  c: AllowContext,
): boolean {
  if (!identity) return false;
  if (!allow) return true;
  const groups = allow.groups;
  if (groups && identity.groups.some((g) => groups.includes(g))) return true;
  if (allow.users?.includes(identity.username)) return true;
  if (allow.idps?.includes(identity.idp)) return true;
  const ns = namespaceOf(identity, c);
  const email = allow.emails || allow.domains ? trustedEmail(identity, c) : undefined;
  if (email) {
    if (allow.emails?.some((e) => ruleFor(e, ns, c)?.toLowerCase() === email)) return true;
    const domain = email.slice(email.indexOf('@') + 1);
    if (allow.domains?.some((d) => domainMatches(ruleFor(d, ns, c)?.toLowerCase(), domain))) return true;
  }
  if (allow.claims) {
    const claims = identity.claims ?? {};
    for (const [rule, wanted] of Object.entries(allow.claims)) {
      const name = ruleFor(rule, ns, c);
      if (name === undefined) continue;
      const have = claims[name];
      const haves = Array.isArray(have) ? have.map(String) : have === undefined ? [] : [String(have)];
      const wants = Array.isArray(wanted) ? wanted.map(String) : [String(wanted)];
      if (haves.some((h) => wants.includes(h))) return true;
    }
  }
  return false;
}

/** '' for the primary provider's users and API keys (bare rules), else `<idp>:`. */
function namespaceOf(identity: Identity, c: AllowContext): string {
  return identity.idp === c.primaryIdp || identity.idp === 'apikey' ? '' : `${identity.idp}:`;
}

/** What a rule says about users of namespace `ns`, or undefined when it speaks of another provider's. */
function ruleFor(rule: string, ns: string, c: AllowContext): string | undefined {
  if (ns !== '') return rule.startsWith(ns) ? rule.slice(ns.length) : undefined;
  // A bare rule; `x:…` naming no provider is bare too (a claim called `urn:x`). One naming another
  // provider is about its users only: a primary user whose IdP sends a claim literally called
  // `partner:department` must not pass a rule written for the partner's department.
  const colon = rule.indexOf(':');
  if (colon > 0) {
    const idp = rule.slice(0, colon).toLowerCase();
    if (idp !== c.primaryIdp && c.identityProviders.some((p) => p.id === idp)) return undefined;
  }
  return rule;
}

/**
 * The address Portico passes on as the user's (`X-Forwarded-Email`, the assertion's `email`):
 * upstreams key accounts on it, so only one `allow` rules would trust, and from a provider other
 * than the primary one only with that provider's `trustEmail: true` — a partner IdP can say its
 * user is ceo@corp.example, and unlike names, an address cannot be qualified with `<idp>:`.
 */
export function releasedEmail(identity: Identity, c: AllowContext): string | undefined {
  if (!trustedEmail(identity, c)) return undefined;
  if (identity.idp !== c.primaryIdp && identity.idp !== 'apikey') {
    const provider = c.identityProviders.find((p) => p.id === identity.idp);
    if (provider?.trustEmail !== true) return undefined;
  }
  return identity.email?.trim();
}

function trustedEmail(identity: Identity, c: AllowContext): string | undefined {
  const email = identity.email?.trim().toLowerCase();
  if (!email) return undefined;
  const provider = c.identityProviders.find((p) => p.id === identity.idp);
  const verified =
    identity.emailVerified === true ||
    identity.idp === 'apikey' ||
    (identity.emailVerified !== false &&
      provider !== undefined &&
      (provider.trustEmail === true || (provider.type !== 'ldap' && provider.type !== 'saml')));
  if (!verified) return undefined;
  // Identity headers drop control characters (`ceo@corp.exam\u0000ple` would reach the upstream as
  // ceo@corp.example while allow rules judged another address), and no address holds a blank.
  if (/[\x00-\x20\x7f\u0085\s]/u.test(email)) return undefined;
  const at = email.indexOf('@');
  if (at <= 0 || at !== email.lastIndexOf('@') || at === email.length - 1) return undefined;
  return email;
}

function domainMatches(rule: string | undefined, domain: string): boolean {
  if (rule === undefined) return false;
  if (rule.startsWith('.')) return domain.endsWith(rule) || domain === rule.slice(1);
  return domain === rule;
}
