import type { Config } from '../config/types.ts';
import type { AnyContext, Credential, Identity, Stage } from '../context.ts';
import type { Services } from '../services.ts';
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
  return (ctx) => {
    const route = ctx.route!;
    const headers = ctx.upstreamHeaders;
    if (consumedByPortico(ctx.credential)) delete headers.authorization;
    const identity = ctx.identity;
    if (!identity) return;
    if (route.inject.headers) identityHeaders(ctx.config, identity, headers);
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

/**
 * The values of an identity's headers, worked out once per identity object (a cached session's
 * identity serves every request of that session) and config's header names: the escaping of each
 * value is a few regular expressions per header, on every authenticated request otherwise.
 */
const computed = new WeakMap<Identity, { names: Config['identityHeaders']; pairs: [string, string][] }>();

/**
 * The plain identity headers (`inject.headers`): user, email, groups (comma-joined), name, set on
 * `out` (the upstream headers themselves: no object in between on the proxied path).
 */
export function identityHeaders<T extends Record<string, unknown> = Record<string, string>>(
  config: Config,
  identity: Identity,
  out: T = {} as T,
): T {
  const names = config.identityHeaders;
  let known = computed.get(identity);
  if (known?.names !== names) {
    const pairs: [string, string][] = [[names.user, headerValue(identity.username)]];
    if (identity.email) pairs.push([names.email, headerValue(identity.email)]);
    if (identity.groups.length > 0) pairs.push([names.groups, headerValue(identity.groups.join(','))]);
    pairs.push([names.name, headerValue(identity.name ?? identity.username)]);
    known = { names, pairs };
    computed.set(identity, known);
  }
  const target = out as Record<string, unknown>;
  for (const [name, value] of known.pairs) target[name] = value;
  return out;
}
