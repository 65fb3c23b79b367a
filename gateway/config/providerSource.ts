import type { RawIdentityProvider } from './types.ts';

/**
 * Where a provider's users come from: its type and the IdP it asks — issuer, server, directory
 * and base. A session remembers it; a reload that keeps a provider's id but points it at another
 * IdP ends the sessions made at the old one (their bare names would be taken for the new IdP's
 * users). Settings that change how users are checked but not who they are (client secrets,
 * scopes, claims, allowed groups) are left out: changing them signs no one out. Defaults are the
 * providers' own (github.com, gitlab.com, Google's issuer).
 */
export function providerSource(p: RawIdentityProvider): string {
  const d = p as unknown as Record<string, unknown>;
  const text = (key: string, fallback = '') => String(d[key] ?? fallback).replace(/\/+$/, '');
  switch (p.type) {
    case 'oidc':
      return `oidc ${text('issuer')}`;
    case 'google':
      return `google ${text('issuer', 'https://accounts.google.com')}`;
    case 'github':
      return `github ${text('baseUrl', 'https://github.com')}`;
    case 'gitlab':
      return `gitlab ${text('baseUrl', 'https://gitlab.com')}`;
    case 'ldap':
      return `ldap ${text('url')} ${text('userBase').toLowerCase()}`;
    case 'saml':
      return `saml ${text('idpIssuer') || text('entryPoint')}`;
  }
}
