import type { IncomingMessage } from 'node:http';
import type { Route } from '../config/types.ts';
import { connectionTokens, HOP_BY_HOP } from './hopByHop.ts';
import { rewriteLocation } from './rewriteLocation.ts';
import { rewriteSetCookie } from './rewriteSetCookie.ts';

/**
 * The upstream's response headers as a flat raw list (case and repeats kept, as nginx passes
 * them), less hop-by-hop headers, with the documented Location and Set-Cookie rewrites.
 */
export function responseHeaders(route: Route, upstreamRes: IncomingMessage): string[] {
  const raw = upstreamRes.rawHeaders;
  const extraHop = connectionTokens(upstreamRes.headers.connection);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    let value = raw[i + 1]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || (extraHop.length > 0 && extraHop.includes(lower))) continue;
    if (lower === 'location' && route.rewriteLocation) value = rewriteLocation(route, value);
    else if (lower === 'set-cookie' && route.rewriteCookiePath) value = rewriteSetCookie(route, value);
    out.push(name, value);
  }
  return out;
}
