import type { HttpContext, Stage, UpgradeContext } from '../context.ts';
import { GatewayError } from '../errors.ts';
import type { Route } from '../config/types.ts';
import { backendView } from './checkPath.ts';
import { matchRoute, type RouteMatch } from './matchRoute.ts';
import { routesForHost } from './routesForHost.ts';

/**
 * The route for a path, refusing paths that a lenient backend would read as another route:
 * `/dce5%2Fadmin`, `/%64ce5/`, `/dce5;x/`, `/x/%c0%ae%c0%ae/dce5/` or `/DCE5/` must not reach the
 * customer system as a way around the AI platform's login.
 */
export function unambiguousRoute(routes: readonly Route[], path: string): RouteMatch | undefined {
  const match = matchRoute(routes, path);
  const view = backendView(path);
  if (view === undefined) throw new GatewayError('PORTICO_ERR_BAD_PATH');
  const lower = view.toLowerCase();
  if (view !== path && matchRoute(routes, view)?.route !== match?.route)
    throw new GatewayError('PORTICO_ERR_BAD_PATH');
  if (lower !== view && matchRoute(routes, lower)?.route !== match?.route)
    throw new GatewayError('PORTICO_ERR_BAD_PATH');
  return match;
}

/** The Host's routes (routesForHost), longest prefix first; `/dce5` answers 301 to `/dce5/` as nginx does. */
export function routeRequest(): Stage<HttpContext> {
  return (ctx) => {
    const match = unambiguousRoute(routesForHost(ctx.config, ctx.req.headers.host), ctx.path);
    if (!match) throw new GatewayError('PORTICO_ERR_NOT_FOUND');
    ctx.route = match.route;
    if (match.redirect) {
      ctx.res.writeHead(301, { location: `${match.route.prefix}${ctx.query}`, 'content-length': '0' });
      ctx.res.end();
      ctx.done = true;
    }
  };
}

/** Upgrades go only to routes that say `websocket: true`. */
export function routeUpgrade(): Stage<UpgradeContext> {
  return (ctx) => {
    const match = unambiguousRoute(routesForHost(ctx.config, ctx.req.headers.host), ctx.path);
    if (!match || match.redirect) throw new GatewayError('PORTICO_ERR_NOT_FOUND');
    if (!match.route.websocket)
      throw new GatewayError('PORTICO_ERR_BAD_REQUEST', {
        detail: 'WebSockets are not enabled on this route.',
      });
    // h2c turns the connection into HTTP/2 requests Portico would never see or judge.
    if (/(^|[\s,])h2c\s*($|,)/i.test(String(ctx.req.headers.upgrade ?? '')))
      throw new GatewayError('PORTICO_ERR_BAD_REQUEST', {
        detail: 'HTTP/2 cleartext upgrades (h2c) are not forwarded.',
      });
    ctx.route = match.route;
  };
}
