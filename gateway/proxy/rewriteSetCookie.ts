import type { Route } from '../config/types.ts';

const PATH_ATTR = /;\s*path=([^;]*)/i;

/** nginx `proxy_cookie_path <upstream path> <prefix>`: a cookie scoped to `/x` upstream becomes `/dce5/x`. */
export function rewriteSetCookie(route: Route, cookie: string): string {
  const m = PATH_ATTR.exec(cookie);
  if (!m) return cookie;
  const path = m[1]!.trim();
  const base = route.upstreamBasePath;
  if (!path.startsWith(base) && path !== base.slice(0, -1)) return cookie;
  const rewritten = route.prefix + path.slice(Math.min(base.length, path.length));
  return cookie.slice(0, m.index) + `; Path=${rewritten}` + cookie.slice(m.index + m[0].length);
}
