import type { ResponsePass } from '../context.ts';
import { connectionTokens, HOP_BY_HOP } from './hopByHop.ts';
import { rewriteLocation } from './rewriteLocation.ts';
import { rewriteSetCookie } from './rewriteSetCookie.ts';
import { setsOwnCookie } from './setsOwnCookie.ts';

/**
 * The first response pass: the upstream's headers as a flat raw list (case and repeats kept, as
 * nginx passes them), less hop-by-hop headers and Set-Cookie of Portico's own cookies, with the
 * documented Location and Set-Cookie rewrites.
 */
export function upstreamResponseHeaders(): ResponsePass {
  return (ctx, upstream, out) => {
    const route = ctx.route!;
    const raw = upstream.rawHeaders;
    const extraHop = connectionTokens(upstream.headers.connection);
    // A 204 has no body to measure (RFC 9110 §8.6: no Content-Length; HTTP/2 clients reset the
    // stream if it says otherwise): dropped, as nginx does.
    const noContent = upstream.statusCode === 204;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!;
      let value = raw[i + 1]!;
      const lower = name.toLowerCase();
      if (HOP_BY_HOP.has(lower) || (extraHop.length > 0 && extraHop.includes(lower))) continue;
      if (noContent && lower === 'content-length') continue;
      if (lower === 'location' && route.rewriteLocation) value = rewriteLocation(route, value);
      else if (lower === 'set-cookie') {
        if (setsOwnCookie(value, ctx.config.ownCookies)) continue;
        if (route.rewriteCookiePath) value = rewriteSetCookie(route, value);
      }
      out.push(name, value);
    }
  };
}
