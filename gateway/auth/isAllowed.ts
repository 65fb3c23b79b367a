import type { Route } from '../config/types.ts';
import type { Identity } from '../context.ts';

/**
 * `allow` rules (a route's, or an OpenID Provider client's): a user passes when ANY listed rule
 * matches (groups, users, emails, email domains, identity providers, claims). No rules means any
 * signed-in user. Emails are compared whole and case-insensitively, and only when they have
 * exactly one `@`; a domain rule matches the part after it exactly (`example.com` never matches
 * `evil-example.com` nor `example.com.evil.io`), or a subdomain when written `.example.com`.
 */
export function isAllowed(allow: Route['allow'], identity: Identity | undefined): boolean {
  if (!identity) return false;
  if (!allow) return true;
  const groups = allow.groups;
  if (groups && identity.groups.some((g) => groups.includes(g))) return true;
  if (allow.users?.includes(identity.username)) return true;
  if (allow.idps?.includes(identity.idp)) return true;
  const email = normaliseEmail(identity);
  if (email) {
    if (allow.emails?.some((e) => e.toLowerCase() === email)) return true;
    const domain = email.slice(email.indexOf('@') + 1);
    if (allow.domains?.some((d) => domainMatches(d.toLowerCase(), domain))) return true;
  }
  if (allow.claims) {
    const claims = identity.claims ?? {};
    for (const [name, wanted] of Object.entries(allow.claims)) {
      const have = claims[name];
      const haves = Array.isArray(have) ? have.map(String) : have === undefined ? [] : [String(have)];
      const wants = Array.isArray(wanted) ? wanted.map(String) : [String(wanted)];
      if (haves.some((h) => wants.includes(h))) return true;
    }
  }
  return false;
}

function normaliseEmail(identity: Identity): string | undefined {
  const email = identity.email?.trim().toLowerCase();
  if (!email) return undefined;
  // Only verified emails count for allow rules, when the provider says whether it verified them.
  if (identity.emailVerified === false) return undefined;
  const at = email.indexOf('@');
  if (at <= 0 || at !== email.lastIndexOf('@') || at === email.length - 1) return undefined;
  return email;
}

function domainMatches(rule: string, domain: string): boolean {
  if (rule.startsWith('.')) return domain.endsWith(rule) || domain === rule.slice(1);
  return domain === rule;
}
