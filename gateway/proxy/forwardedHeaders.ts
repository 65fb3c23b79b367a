import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { isIP, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Config, Route } from '../config/types.ts';
import type { RequestContext } from '../context.ts';
import { foldHeaderName, needsFolding } from './foldHeaderName.ts';
import { connectionTokens, HOP_BY_HOP } from './hopByHop.ts';

/**
 * Headers a backend may read as a different request than the one Portico checked: IIS and some
 * frameworks take the path from X-Original-URL / X-Rewrite-URL. Never forwarded.
 */
const REWRITING = new Set(['x-original-url', 'x-rewrite-url']);
/**
 * Headers whose other spellings (`transfer_encoding`, `x.forwarded.for`: foldHeaderName) a
 * CGI-style backend reads as the real one. nginx drops every such header by default; Portico drops
 * these, and lets other underscore headers through (some applications use them).
 */
const SENSITIVE = new Set([
  ...HOP_BY_HOP,
  'content-length',
  'host',
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-forwarded-prefix',
  'x-forwarded-port',
  'x-real-ip',
  'x-request-id',
  ...REWRITING,
]);

/**
 * Other spellings of "where the client connected and who it is" that some framework or library
 * reads (Spring and Rails X-Forwarded-Port, Akamai True-Client-IP, Cloudflare CF-Connecting-IP,
 * Microsoft Front-End-Https, …). Portico sets none of them; from a peer outside `trustProxy` they
 * are the client's word and are dropped, so an upstream cannot build its redirects or its idea of
 * the client from them. A trusted proxy's are passed along.
 */
const CLIENT_SPOOFABLE = new Set([
  'x-forwarded-port',
  'x-forwarded-server',
  'x-forwarded-scheme',
  'x-forwarded-ssl',
  'x-forwarded-uri',
  'x-forwarded-path',
  'x-forwarded',
  'forwarded-for',
  'x-original-host',
  'x-original-forwarded-for',
  'x-host',
  'front-end-https',
  'x-url-scheme',
  'x-client-ip',
  'true-client-ip',
  'cf-connecting-ip',
  'x-cluster-client-ip',
  'fastly-client-ip',
]);

/**
 * Who the client is, believing X-Forwarded-For only from `trustProxy` peers (walked right to
 * left, the first untrusted hop is the client), like nginx's realip module; and whether it came
 * over https (X-Forwarded-Proto from a trusted peer, or our own TLS).
 */
export function clientOf(
  req: IncomingMessage,
  trust: Config['trustProxy'],
): { clientIp: string; proto: 'http' | 'https' } {
  const remote = req.socket.remoteAddress ?? '';
  let clientIp = remote;
  let proto: 'http' | 'https' = (req.socket as TLSSocket).encrypted === true ? 'https' : 'http';
  if (!trust || !peerTrusted(req.socket, trust)) return { clientIp, proto };
  const xff = req.headers['x-forwarded-for'];
  if (typeof xff === 'string') {
    const hops = xff.split(',');
    for (let i = hops.length - 1; i >= 0; i--) {
      // A hop that is no address (`unknown`, `198.051.100.007`) ends the walk at the last trusted
      // one, as nginx's realip keeps the peer: a name in no deny list must not pass ipDeny.
      const hop = addressOf(hops[i]!);
      if (hop === undefined) break;
      clientIp = hop;
      if (!isTrusted(trust, hop)) break;
    }
  }
  const forwardedProto = req.headers['x-forwarded-proto'];
  if (forwardedProto === 'https' || forwardedProto === 'http') proto = forwardedProto;
  return { clientIp, proto };
}

/**
 * The address a forwarded hop names, without the port some load balancers add (`192.0.2.7:4444`,
 * `[2001:db8::1]:443`); undefined when it names none.
 */
function addressOf(raw: string): string | undefined {
  let hop = raw.trim();
  if (hop.startsWith('[')) {
    const end = hop.indexOf(']');
    hop = hop.slice(1, end === -1 ? hop.length : end);
  } else {
    // One colon is IPv4 with a port; more are IPv6 without brackets (no port can follow then).
    const colon = hop.indexOf(':');
    if (colon !== -1 && colon === hop.lastIndexOf(':')) hop = hop.slice(0, colon);
  }
  return isIP(hop) === 0 ? undefined : hop;
}

/** Headers some frameworks take the method from (Express method-override, Rails, ASP.NET). */
export const METHOD_OVERRIDES = ['x-http-method-override', 'x-http-method', 'x-method-override'];

const PEER_TRUST = Symbol('portico.peerTrust');
type TrustedSocket = Socket & {
  [PEER_TRUST]?: { list: NonNullable<Config['trustProxy']>; trusted: boolean };
};

/**
 * Whether the connection's peer is in `trustProxy`: decided once per connection and list (a
 * keep-alive connection carries many requests; a reload brings a new list, decided again). Asked
 * twice per proxied request, BlockList's check was ~0.8 % of an authenticated request's CPU.
 */
export function peerTrusted(socket: Socket, list: NonNullable<Config['trustProxy']>): boolean {
  const s = socket as TrustedSocket;
  const known = s[PEER_TRUST];
  if (known?.list === list) return known.trusted;
  const trusted = isTrusted(list, socket.remoteAddress ?? '');
  s[PEER_TRUST] = { list, trusted };
  return trusted;
}

export function isTrusted(list: NonNullable<Config['trustProxy']>, ip: string): boolean {
  const v4mapped = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
  try {
    // A colon means IPv6 for any address BlockList accepts (it refuses the rest): net.isIPv6's
    // regular expression was ~1 % of a proxied request's CPU, asked up to three times per request.
    return list.check(v4mapped, v4mapped.includes(':') ? 'ipv6' : 'ipv4');
  } catch {
    return false;
  }
}

/**
 * The request headers the upstream receives: the client's, less hop-by-hop ones, spoofable
 * identity headers (in every spelling), path-rewriting headers and Portico's own cookies, plus
 * what nginx's seed config sets (Host, X-Real-IP, X-Forwarded-For) and X-Forwarded-Proto/Host/
 * Prefix and Forwarded (RFC 7239). Unlike nginx, forwarding headers from an untrusted peer are
 * replaced, not appended to, so an upstream that reads the left-most entry cannot be lied to, and
 * the other spellings of them (CLIENT_SPOOFABLE) are dropped.
 */
export function buildUpstreamHeaders(ctx: RequestContext, route: Route): OutgoingHttpHeaders {
  const incoming: IncomingHttpHeaders = ctx.req.headers;
  const out: OutgoingHttpHeaders = {};
  const extraHop = connectionTokens(incoming.connection);
  // Identity headers are Portico's to set: a client's copy is dropped in every spelling a backend
  // could read as the same name (Node lower-cases names; `_`, `.` and the like fold to `-`).
  const identityNames = ctx.config.identityHeaderNames;
  const remote = ctx.req.socket.remoteAddress ?? '';
  const trusted =
    ctx.clientIp !== remote ||
    (ctx.config.trustProxy !== undefined && peerTrusted(ctx.req.socket, ctx.config.trustProxy));
  // What is left out is skipped here, never deleted afterwards: a `delete` turns the object into a
  // dictionary, and every later stage and undici then read and write it the slow way (measured: a
  // request whose Cookie held only Portico's cookie cost ~10 µs more, in this function, in
  // injectIdentity and in undici's header processing).
  const skipOverrides = route.loginSkipped;
  // A credential Portico checked itself (a Portico API key, a token it verified: injectIdentity's
  // consumedByPortico) is never passed on.
  const skipAuthorization = ctx.credential === 'apiKey' || ctx.credential === 'bearer';
  // Names the route's `headers.request` sets or removes: a client's copy in another spelling
  // (`X_Debug_Mode`, which a CGI-style backend reads as X-Debug-Mode) would undo the policy.
  const policyNames = route.requestHeaders?.named;
  for (const name in incoming) {
    // HTTP/2 pseudo-headers (:method, :path, :authority, :scheme) describe this hop's request.
    if (name.charCodeAt(0) === 58) continue;
    if (HOP_BY_HOP.has(name) || identityNames.has(name) || REWRITING.has(name)) continue;
    // Set below: the cookies without Portico's; the route's prefix.
    if (name === 'cookie' || name === 'x-forwarded-prefix') continue;
    if (skipAuthorization && name === 'authorization') continue;
    if (!trusted && CLIENT_SPOOFABLE.has(name)) continue;
    let folded = name;
    if (needsFolding(name)) {
      folded = foldHeaderName(name);
      if (identityNames.has(folded) || SENSITIVE.has(folded) || (!trusted && CLIENT_SPOOFABLE.has(folded)))
        continue;
    }
    if (extraHop.length > 0 && extraHop.includes(name)) continue;
    if (policyNames?.has(folded)) continue;
    // Passed without a login (a public path, a CORS preflight) for its method: a backend that
    // honours a method override must not turn it into another one. Also spelt with `_`:
    // CGI-style backends read X_HTTP_Method_Override as the override.
    if (skipOverrides && METHOD_OVERRIDES.includes(folded)) continue;
    out[name] = incoming[name];
  }
  const cookie = incoming.cookie;
  if (cookie !== undefined) {
    const kept = withoutOwnCookies(cookie, ctx.config.ownCookies, ctx.config.ownCookieProbes);
    if (kept !== '') out.cookie = kept;
  }
  const xff = incoming['x-forwarded-for'];
  out['x-forwarded-for'] = trusted && typeof xff === 'string' && xff ? `${xff}, ${remote}` : remote;
  out['x-real-ip'] = ctx.clientIp;
  out['x-forwarded-proto'] = ctx.proto;
  const host = incoming.host ?? '';
  const publicHost =
    trusted && typeof incoming['x-forwarded-host'] === 'string' ? incoming['x-forwarded-host'] : host;
  out['x-forwarded-host'] = publicHost;
  const forwarded = `for=${forwardedNode(remote)};host=${quoted(publicHost)};proto=${ctx.proto}`;
  const given = incoming.forwarded;
  out.forwarded = trusted && typeof given === 'string' && given ? `${given}, ${forwarded}` : forwarded;
  if (route.prefix !== '/') out['x-forwarded-prefix'] = route.prefixBare;
  out.host = route.preserveHost && host ? host : route.upstreamHost;
  out['x-request-id'] = ctx.requestId;
  return out;
}

/**
 * The Cookie header without Portico's cookies, every other pair kept byte for byte. Filtering by
 * name is done on the raw header (not parsed and re-serialised) so the upstream's own cookies
 * reach it exactly as the browser sent them.
 */
export function withoutOwnCookies(
  header: string | string[],
  names: readonly string[],
  /** Substrings every own name contains one of (fewer scans of each request's Cookie header). */
  probes: readonly string[] = names,
): string {
  const value = Array.isArray(header) ? header.join('; ') : header;
  if (!probes.some((n) => value.includes(n))) return value;
  return value
    .split(';')
    .filter((pair) => {
      const eq = pair.indexOf('=');
      const name = (eq === -1 ? pair : pair.slice(0, eq)).trim();
      return name !== '' && !names.includes(name);
    })
    .map((pair) => pair.trim())
    .join('; ');
}

/** An RFC 7239 node: IPv6 addresses quoted and bracketed. */
function forwardedNode(ip: string): string {
  const v4 = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
  // The socket's own address: well-formed, so a colon means IPv6.
  return v4.includes(':') ? `"[${v4}]"` : v4 || 'unknown';
}

function quoted(value: string): string {
  return /^[A-Za-z0-9.:-]*$/.test(value) && value !== '' ? value : `"${value.replace(/["\\]/g, '')}"`;
}
