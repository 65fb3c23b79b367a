import { isIP } from 'node:net';
import type { RawConfig } from './types.ts';

const MIN_SECRET = 32;

/**
 * What the schema cannot say about `oidcProvider:`: it needs publicUrl (the issuer) and a login,
 * client ids are unique, secrets are long enough, and every URI a token or a browser is sent to
 * is https — plain http only on loopback addresses, or when publicUrl is plain http itself: a site
 * served over http (a demo or lab network, like docker-compose.yml's) already sends its session
 * cookie in the clear, and refusing its clients' http URIs would protect nothing.
 */
export function oidcProviderProblems(raw: RawConfig): { path: (string | number)[]; message: string }[] {
  const op = raw.oidcProvider;
  if (!op) return [];
  const out: { path: (string | number)[]; message: string }[] = [];
  if (!raw.publicUrl)
    out.push({ path: ['oidcProvider'], message: 'needs publicUrl: the issuer is <publicUrl>/_portico/oidc' });
  if ((raw.identityProviders ?? []).length === 0)
    out.push({
      path: ['oidcProvider'],
      message: 'needs identityProviders: users sign in to Portico before a client gets their identity',
    });
  const plainSite = typeof raw.publicUrl === 'string' && raw.publicUrl.startsWith('http:');
  const seen = new Map<string, number>();
  op.clients.forEach((c, i) => {
    const at = ['oidcProvider', 'clients', i];
    if (seen.has(c.id))
      out.push({
        path: [...at, 'id'],
        message: `duplicate client id "${c.id}" (also oidcProvider.clients[${seen.get(c.id)}])`,
      });
    seen.set(c.id, i);
    if (c.secret.length < MIN_SECRET)
      out.push({
        path: [...at, 'secret'],
        message: `is ${c.secret.length} characters long; a client secret needs at least ${MIN_SECRET} (openssl rand -base64 32)`,
      });
    const uris: [(string | number)[], string][] = [
      ...c.redirectUris.map((u, j): [(string | number)[], string] => [[...at, 'redirectUris', j], u]),
      ...(c.postLogoutRedirectUris ?? []).map((u, j): [(string | number)[], string] => [
        [...at, 'postLogoutRedirectUris', j],
        u,
      ]),
      ...(c.backchannelLogoutUri ? [[[...at, 'backchannelLogoutUri'], c.backchannelLogoutUri]] : []),
    ] as [(string | number)[], string][];
    for (const [path, value] of uris) {
      const message = uriProblem(value, plainSite);
      if (message) out.push({ path, message });
    }
  });
  return out;
}

function uriProblem(value: string, plainSite: boolean): string | undefined {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return `"${value}" is not a valid URL`;
  }
  if (u.username || u.password) return 'must not embed credentials';
  if (u.protocol === 'http:' && !plainSite && !isLoopback(u.hostname))
    return `"${value}" must be https (plain http only for loopback addresses, or when publicUrl is plain http too)`;
  return undefined;
}

function isLoopback(hostname: string): boolean {
  const host = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname;
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1';
  return false;
}
