import type { Config } from '../config/types.ts';
import type { AnyContext, Credential, Identity, Stage } from '../context.ts';
import type { Services } from '../services.ts';
import { releasedEmail } from '../auth/isAllowed.ts';
import { headerValue } from './headerValue.ts';

/**
 * What upstreams may trust (SPEC §5). Incoming copies of these headers were already dropped in
 * every spelling (buildUpstreamHeaders); here Portico sets its own: user, email, groups, name,
 * the signed assertion, and the user's access token when the route asks for it. A credential
 * Portico consumed itself — a Portico API key, or an access token checked with `bearer: verify`
 * — is never passed on; any other Authorization header belongs to the upstream and goes through.
 */
export function injectIdentity(s: Pick<Services, 'assertions'>): Stage<AnyContext> {
  const { assertions } = s;
  // The header values of an identity, worked out once per identity object (a cached session's
  // identity serves all its requests) and config: escaping them is a few regular expressions per
  // header, on every authenticated request otherwise. Set straight on the upstream headers.
  const computed = new WeakMap<Identity, { names: Config['identityHeaders']; pairs: [string, string][] }>();
  const setIdentityHeaders = (config: Config, identity: Identity, headers: Record<string, unknown>) => {
    let known = computed.get(identity);
    if (known?.names !== config.identityHeaders) {
      known = { names: config.identityHeaders, pairs: identityHeaderPairs(config, identity) };
      computed.set(identity, known);
    }
    for (const [name, value] of known.pairs) headers[name] = value;
  };
  return (ctx) => {
    const route = ctx.route!;
    const headers = ctx.upstreamHeaders;
    if (consumedByPortico(ctx.credential)) delete headers.authorization;
    const identity = ctx.identity;
    if (!identity) return;
    if (route.inject.headers) setIdentityHeaders(ctx.config, identity, headers);
    if (route.inject.accessToken && ctx.session?.tokens?.accessToken)
      headers.authorization = `Bearer ${ctx.session.tokens.accessToken}`;
    if (!route.inject.jwt) return;
    const cached = assertions.cached(ctx.config, route, ctx.sessionId);
    if (cached) {
      headers[ctx.config.jwt.header] = cached;
      return;
    }
    return assertions.sign(ctx.config, route, identity, ctx.sessionId).then((token) => {
      headers[ctx.config.jwt.header] = token;
    });
  };
}

/** A credential Portico checked itself is Portico's: it never reaches an upstream. */
export function consumedByPortico(credential: Credential | undefined): boolean {
  return credential === 'apiKey' || credential === 'bearer';
}

/** The plain identity headers (`inject.headers`): user, email, groups (comma-joined), name. */
export function identityHeaders(config: Config, identity: Identity): Record<string, string> {
  return Object.fromEntries(identityHeaderPairs(config, identity));
}

/** The same as name/value pairs, in that order. */
export function identityHeaderPairs(config: Config, identity: Identity): [string, string][] {
  const names = config.identityHeaders;
  const pairs: [string, string][] = [[names.user, headerValue(identity.username)]];
  const email = releasedEmail(identity, config);
  if (email) pairs.push([names.email, headerValue(email)]);
  if (identity.groups.length > 0) pairs.push([names.groups, headerValue(identity.groups.join(','))]);
  pairs.push([names.name, headerValue(identity.name ?? identity.username)]);
  return pairs;
}
