import type { HttpContext, Stage, UpgradeContext } from '../context.ts';
import { GatewayError } from '../errors.ts';
import type { Route } from '../config/types.ts';
import { backendView, twiceDecodedView, windowsReadings } from './checkPath.ts';
import { matchRoute, type RouteMatch } from './matchRoute.ts';
import { routesForHost } from './routesForHost.ts';

/**
 * The route for a path, refusing paths that a lenient backend would read as another route:
 * `/dce5%2Fadmin`, `/%64ce5/`, `/dce5;x/`, `/x/%c0%ae%c0%ae/dce5/` or `/DCE5/` must not reach the
 * customer system as a way around the AI platform's login; nor `/pub/%252e%252e/dce5/` (a backend
 * that decodes twice) or `/dce5/admin./x`, `/dce5/admin%20/x`, `/dce5/admin::$INDEX_ALLOCATION/x`
 * (a Windows backend, which drops trailing dots and spaces and NTFS stream names) a way around
 * a stricter route's `allow` or login.
 */
export function unambiguousRoute(routes: readonly Route[], path: string): RouteMatch | undefined {
  const match = matchRoute(routes, path);
  if (otherReading(routes, path, match)) throw new GatewayError('PORTICO_ERR_BAD_PATH');
  return match;
}

/** A reading of a path that picks another route than the path as sent (`read` undefined: none is consistent). */
export type OtherReading = { read: string | undefined; by: string };

/**
 * The first reading of `path` a backend could make that picks another route than `match` (the
 * path's own), or `undefined` when every reading agrees: decoded once (a lenient backend), with
 * case folded, as a Windows backend reads it, and the same again for what is left encoded once
 * decoded (a backend that decodes twice).
 */
export function otherReading(
  routes: readonly Route[],
  path: string,
  match: RouteMatch | undefined,
): OtherReading | undefined {
  const view = backendView(path);
  if (view === undefined) return { read: undefined, by: 'a lenient backend' };
  const same = (p: string) => matchRoute(routes, p)?.route === match?.route;
  if (view !== path && !same(view)) return { read: view, by: 'a lenient backend' };
  const other = caseOrWindowsReading(view, same);
  if (other || !view.includes('%')) return other;
  const twice = twiceDecodedView(view);
  if (twice !== view && !same(twice)) return { read: twice, by: 'a backend that decodes twice' };
  return caseOrWindowsReading(twice, same);
}

function caseOrWindowsReading(view: string, same: (path: string) => boolean): OtherReading | undefined {
  const lower = view.toLowerCase();
  if (lower !== view && !same(lower)) return { read: lower, by: 'a case-insensitive backend' };
  for (const windows of windowsReadings(lower))
    if (windows !== lower && !same(windows)) return { read: windows, by: 'a Windows backend' };
  return undefined;
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
    // Node does not read the body of an upgrade request: its bytes would reach the upstream as the
    // tunnel's first, not as the body the client declared. A WebSocket handshake has none.
    const h = ctx.req.headers;
    if (
      h['transfer-encoding'] !== undefined ||
      (h['content-length'] !== undefined && h['content-length'] !== '0')
    )
      throw new GatewayError('PORTICO_ERR_BAD_REQUEST', { detail: 'An upgrade request carries no body.' });
    ctx.route = match.route;
  };
}
