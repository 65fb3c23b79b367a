import type { ResponsePass } from '../context.ts';
import { connectionTokens, HOP_BY_HOP } from './hopByHop.ts';
import { rewriteLocation } from './rewriteLocation.ts';
import { rewriteSetCookie } from './rewriteSetCookie.ts';
import { foldHeaderName } from './foldHeaderName.ts';
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
    if (ctx.identity !== undefined)
      keepSignedInAnswerPrivate(out, ctx.config.identityHeaderNames, route.inject.accessToken);
  };
}

/**
 * A Cache-Control value's directives: split on the commas outside quoted strings, so that
 * `private="Set-Cookie, X-Token"` stays one directive.
 */
function directivesOf(value: string): readonly string[] {
  if (!value.includes('"')) return value.split(',');
  return value.match(/(?:[^,"]|"(?:[^"\\]|\\.)*"?)+/g) ?? [];
}

/** Directives by which an upstream shares an answer with shared caches on purpose. */
const SHARED = new Set(['public', 's-maxage']);

/**
 * An answer to a signed-in request is that user's: a cache in front of Portico sees only the
 * session cookie, which RFC 9111 does not have shared caches respect as it does Authorization
 * (§3.5: stored only when the answer says so), and cannot vary on the identity headers Portico sent
 * the upstream (a `Vary: X-Forwarded-User` matches every browser, none sends it). So the answer is
 * made `private` (browsers still cache it) unless it already is or is `no-store`, or the upstream
 * shares it on purpose (`public`, `s-maxage`) without varying on what only Portico sends; then its
 * sharing directives are dropped. A route's `headers.response` still has the last word.
 */
function keepSignedInAnswerPrivate(
  headers: string[],
  identityNames: ReadonlySet<string>,
  token: boolean,
): void {
  const directives: string[] = [];
  let cacheControl = 0;
  let shared = false;
  let variesOnIdentity = false;
  for (let i = 0; i < headers.length; i += 2) {
    const lower = headers[i]!.toLowerCase();
    if (lower === 'cache-control') {
      cacheControl++;
      for (const part of directivesOf(headers[i + 1]!)) {
        const directive = part.trim();
        if (directive === '') continue;
        const eq = directive.indexOf('=');
        const key = (eq === -1 ? directive : directive.slice(0, eq)).trim().toLowerCase();
        if (key === 'no-store') return;
        if (key === 'private') {
          // `private="Set-Cookie"` keeps only the fields it names from shared caches (RFC 9111
          // §5.2.2.7): the rest of the answer is still shareable. Only the bare directive is private.
          if (eq === -1) return;
          continue;
        }
        if (SHARED.has(key)) shared = true;
        directives.push(directive);
      }
    } else if (lower === 'vary') {
      for (const part of headers[i + 1]!.split(',')) {
        const name = foldHeaderName(part.trim());
        if (identityNames.has(name) || (token && name === 'authorization')) variesOnIdentity = true;
      }
    }
  }
  if (shared && !variesOnIdentity) return;
  const kept = directives.filter((d) => !SHARED.has(d.split('=')[0]!.trim().toLowerCase()));
  kept.push('private');
  if (cacheControl > 0) {
    let at = 0;
    for (let i = 0; i < headers.length; i += 2) {
      if (headers[i]!.toLowerCase() === 'cache-control') continue;
      headers[at++] = headers[i]!;
      headers[at++] = headers[i + 1]!;
    }
    headers.length = at;
  }
  headers.push('Cache-Control', kept.join(', '));
}
