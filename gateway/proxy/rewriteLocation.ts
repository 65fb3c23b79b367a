import type { Route } from '../config/types.ts';

/**
 * nginx `proxy_redirect default`: a Location at the upstream's own origin (or its root) is moved
 * under the route's prefix, so `https://10.6.8.2:30343/login` becomes `/dce5/login`. Anything else
 * (other hosts, paths already relative to the public origin) is left alone.
 */
export function rewriteLocation(route: Route, location: string): string {
  for (const origin of route.upstreamOrigins) {
    if (!location.startsWith(origin)) continue;
    const rest = location.slice(origin.length);
    if (rest === '') return route.prefix;
    const c = rest.charCodeAt(0);
    if (c !== 47 /* / */ && c !== 63 /* ? */ && c !== 35 /* # */) continue;
    const base = route.upstreamBasePath;
    if (rest.startsWith(base)) return sameOrigin(route.prefix + rest.slice(base.length));
    if (rest === base.slice(0, -1)) return route.prefix;
    return location;
  }
  return location;
}

/**
 * A rewritten Location is a path on this site, never a protocol-relative URL: `http://upstream//evil.example/x`
 * would otherwise become `//evil.example/x` on the root route (nginx has this open redirect).
 * Browsers drop tabs and line breaks anywhere in a URL first (WHATWG URL), so `/\t/evil.example`
 * is `//evil.example` to them: those go before the test.
 */
function sameOrigin(path: string): string {
  const p = path.replace(/[\t\n\r]/g, '');
  return /^[/\\]{2}/.test(p) ? p.replace(/^[/\\]+/, '/') : p;
}
