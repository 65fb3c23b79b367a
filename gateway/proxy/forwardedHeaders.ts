import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { isIPv6 } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Config, Route } from '../config/types.ts';
import type { RequestContext } from '../context.ts';
import { connectionTokens, HOP_BY_HOP } from './hopByHop.ts';

/**
 * Who the client is, believing X-Forwarded-For only from `trustProxy` peers (walked right to
 * left, the first untrusted hop is the client), like nginx's realip module.
 */
export function resolveClient(ctx: RequestContext): void {
  const { req, config } = ctx;
  const remote = req.socket.remoteAddress ?? '';
  const encrypted = (req.socket as TLSSocket).encrypted === true;
  ctx.clientIp = remote;
  ctx.proto = encrypted ? 'https' : 'http';
  const trust = config.trustProxy;
  if (!trust || !isTrusted(trust, remote)) return;
  const xff = req.headers['x-forwarded-for'];
  if (typeof xff === 'string') {
    const hops = xff.split(',').map((s) => s.trim());
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i]!;
      ctx.clientIp = hop;
      if (!isTrusted(trust, hop)) break;
    }
  }
  const proto = req.headers['x-forwarded-proto'];
  if (proto === 'https' || proto === 'http') ctx.proto = proto;
}

function isTrusted(list: NonNullable<Config['trustProxy']>, ip: string): boolean {
  const v4mapped = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
  try {
    return list.check(v4mapped, isIPv6(v4mapped) ? 'ipv6' : 'ipv4');
  } catch {
    return false;
  }
}

/**
 * The request headers the upstream receives: the client's, less hop-by-hop ones, plus what nginx's
 * seed config sets (Host, X-Real-IP, X-Forwarded-For) and X-Forwarded-Proto/Host/Prefix.
 * Unlike nginx, an X-Forwarded-For from an untrusted peer is replaced, not appended to, so an
 * upstream that reads the left-most entry cannot be lied to.
 */
export function buildUpstreamHeaders(ctx: RequestContext, route: Route): OutgoingHttpHeaders {
  const incoming: IncomingHttpHeaders = ctx.req.headers;
  const out: OutgoingHttpHeaders = {};
  const extraHop = connectionTokens(incoming.connection);
  // Identity headers are Portico's to set: a client's copy is dropped in every spelling a backend
  // could read as the same name (Node lower-cases names; `_` is folded to `-` here).
  const identityNames = ctx.config.identityHeaderNames;
  for (const name in incoming) {
    if (HOP_BY_HOP.has(name) || identityNames.has(name)) continue;
    if (name.includes('_') && identityNames.has(name.replace(/_/g, '-'))) continue;
    out[name] = incoming[name];
  }
  for (const name of extraHop) delete out[name];
  const remote = ctx.req.socket.remoteAddress ?? '';
  const trusted =
    ctx.clientIp !== remote ||
    (ctx.config.trustProxy !== undefined && isTrusted(ctx.config.trustProxy, remote));
  const xff = incoming['x-forwarded-for'];
  out['x-forwarded-for'] = trusted && typeof xff === 'string' && xff ? `${xff}, ${remote}` : remote;
  out['x-real-ip'] = ctx.clientIp;
  out['x-forwarded-proto'] = ctx.proto;
  const host = incoming.host ?? '';
  out['x-forwarded-host'] =
    trusted && typeof incoming['x-forwarded-host'] === 'string' ? incoming['x-forwarded-host'] : host;
  if (route.prefix !== '/') out['x-forwarded-prefix'] = route.prefixBare;
  else delete out['x-forwarded-prefix'];
  out.host = route.preserveHost && host ? host : route.upstreamHost;
  out['x-request-id'] = ctx.requestId;
  return out;
}
