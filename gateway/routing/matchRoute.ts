import type { Route } from '../config/types.ts';

export type RouteMatch = { route: Route; redirect: boolean };

/**
 * Longest prefix wins (routes are sorted at load time). A prefix ending in `/` matches like an nginx
 * `location /dce5/`; the bare `/dce5` asks for a redirect to `/dce5/`. A prefix without a trailing
 * slash matches on a segment boundary only (`/api` matches `/api` and `/api/x`, never `/apix`).
 */
export function matchRoute(routes: readonly Route[], path: string): RouteMatch | undefined {
  for (const route of routes) {
    const prefix = route.prefix;
    if (prefix.endsWith('/')) {
      if (path.startsWith(prefix)) return { route, redirect: false };
      if (path === route.prefixBare) return { route, redirect: true };
    } else if (path === prefix || (path.startsWith(prefix) && path.charCodeAt(prefix.length) === 47)) {
      return { route, redirect: false };
    }
  }
  return undefined;
}

/** `/dce5/a/b` on route `/dce5/` → upstream `/a/b` (nginx `proxy_pass https://h:p/;`). */
export function upstreamPath(route: Route, path: string): string {
  const rest = path.slice(route.prefix.length);
  const base = route.upstreamBasePath;
  if (route.prefix.endsWith('/')) return base.endsWith('/') ? base + rest : `${base}/${rest}`;
  // `/api` → `https://h/v1`: `/api/x` becomes `/v1/x`, `/api` becomes `/v1`.
  if (base === '/') return rest === '' ? '/' : rest;
  return base.endsWith('/') && rest.startsWith('/') ? base + rest.slice(1) : base + rest;
}
