import { TOKEN_CHECKING_TYPES, tokenVerifiers } from '../auth/authenticate.ts';
import { isAllowed } from '../auth/isAllowed.ts';
import type { Config, Route } from '../config/types.ts';
import type { Identity, UpgradeContext } from '../context.ts';
import { addressAdmitted } from '../routePolicy/checkClientAddress.ts';
import { isPublic } from '../routePolicy/skipLoginOnPublicPaths.ts';
import type { TunnelGrant } from './tunnels.ts';

/** What an open tunnel was let in as, kept to be judged again after a reload. */
export function tunnelGrant(ctx: UpgradeContext): TunnelGrant {
  const identity = ctx.identity;
  return {
    routeId: ctx.route!.id,
    identity,
    apiKeyHash:
      ctx.credential === 'apiKey' && identity
        ? ctx.config.apiKeys.find((k) => k.id === identity.sub)?.hash
        : undefined,
    publicPath: ctx.route!.loginSkipped ? ctx.path : undefined,
    bearer: ctx.credential === 'bearer',
    clientIp: ctx.clientIp,
  };
}

/**
 * Whether a terminal opened under an earlier config would be let in under this one: its route
 * still takes WebSockets from its address (`ipAllow`, `ipDeny`), its API key is still there unchanged, its bearer token's provider is
 * still one the route would ask about that token, and the route's `allow` rules still admit its
 * user. A terminal makes no request that would be judged again, so a reload does it:
 * revoking an API key or narrowing `allow` closes the terminals it no longer admits.
 */
export function tunnelStillAllowed(config: Config, grant: TunnelGrant): boolean {
  const route = config.routes.find((r) => r.id === grant.routeId);
  if (!route?.websocket) return false;
  // Under maintenance the route answers 503: its terminals end too.
  if (route.maintenance !== undefined) return false;
  // An address the route now refuses (an operator blocking an attacker by reload).
  if (route.addresses !== undefined && !addressAdmitted(route.addresses, grant.clientIp)) return false;
  if (
    grant.apiKeyHash !== undefined &&
    !config.apiKeys.some((k) => k.id === grant.identity?.sub && k.hash === grant.apiKeyHash)
  )
    return false;
  if (grant.bearer && route.auth !== 'none' && !bearerStillChecked(config, route, grant.identity))
    return false;
  // Let in on a public path of a login route (as that route's copy without a login): still public?
  if (grant.publicPath !== undefined)
    return (
      route.auth === 'none' ||
      (route.publicPaths !== undefined && isPublic(route.publicPaths, grant.publicPath, 'GET'))
    );
  return route.auth !== 'required' || isAllowed(route.allow, grant.identity, config);
}

/** Whether the route would still ask the token's provider about it (authenticate.ts's choice). */
function bearerStillChecked(config: Config, route: Route, identity: Identity | undefined): boolean {
  if (route.bearer !== 'verify' || !identity) return false;
  const checking = config.identityProviders.filter((p) => TOKEN_CHECKING_TYPES.has(p.type));
  const asked = route.bearerProviders
    ? checking.filter((p) => route.bearerProviders!.includes(p.id))
    : tokenVerifiers(checking, identity.bearerJwt === true, config.primaryIdp);
  return asked.some((p) => p.id === identity.idp);
}
