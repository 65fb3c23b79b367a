import type { HttpContext, UpgradeContext } from '../context.ts';
import { GatewayError } from '../errors.ts';
import { matchRoute } from './matchRoute.ts';

/** Longest-prefix route match; `/dce5` answers 301 to `/dce5/` as nginx does. */
export function routeRequest(ctx: HttpContext): void {
  const match = matchRoute(ctx.config.routes, ctx.path);
  if (!match) throw new GatewayError('PORTICO_ERR_NOT_FOUND');
  ctx.route = match.route;
  if (match.redirect) {
    ctx.res.writeHead(301, { location: `${match.route.prefix}${ctx.query}`, 'content-length': '0' });
    ctx.res.end();
    ctx.done = true;
  }
}

/** Upgrades go only to routes that say `websocket: true`. */
export function routeUpgrade(ctx: UpgradeContext): void {
  const match = matchRoute(ctx.config.routes, ctx.path);
  if (!match || match.redirect) throw new GatewayError('PORTICO_ERR_NOT_FOUND');
  if (!match.route.websocket)
    throw new GatewayError('PORTICO_ERR_BAD_REQUEST', {
      detail: 'WebSockets are not enabled on this route.',
    });
  ctx.route = match.route;
}
