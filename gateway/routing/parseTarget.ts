import type { RequestContext, Stage } from '../context.ts';
import { GatewayError } from '../errors.ts';
import { clientOf } from '../proxy/forwardedHeaders.ts';
import { splitTarget } from './checkPath.ts';
import { hostName } from './routesForHost.ts';

/** Splits and checks the request target and works out who the client is (trustProxy). */
export function parseTarget(): Stage<RequestContext> {
  return (ctx) => {
    // "HTTP/2.0" on an HTTP/1.1 connection: Node's parser takes it, and everything that tells
    // HTTP/2 by the version would then look for a stream that is not there (a 500 for anyone).
    if (ctx.req.httpVersionMajor === 2 && !('stream' in ctx.req))
      throw new GatewayError('PORTICO_ERR_BAD_REQUEST', {
        detail: 'HTTP/2 is not spoken on this connection.',
      });
    // Two Host headers are a request that different servers read differently (RFC 9112 §3.2: 400).
    const raw = ctx.req.rawHeaders;
    let hosts = 0;
    for (let i = 0; i < raw.length; i += 2)
      if (raw[i]!.length === 4 && raw[i]!.toLowerCase() === 'host') hosts++;
    if (hosts > 1)
      throw new GatewayError('PORTICO_ERR_BAD_REQUEST', { detail: 'More than one Host header.' });
    // A Host that names no host would be served by the routes without a host while the upstream
    // (nginx drops what follows a colon, `new URL()` drops userinfo) reads it as a host whose
    // routes need a login — `admin.example.com:abc` must not be a way around `host: admin…`.
    // Refused as nginx refuses it, and never copied into X-Forwarded-Host or Forwarded.
    const host = ctx.req.headers.host;
    if (host && hostName(host) === '')
      throw new GatewayError('PORTICO_ERR_BAD_REQUEST', { detail: 'The Host header names no host.' });
    // A coding besides chunked (`gzip, chunked`): Node's parser removes the chunking and the
    // upstream would get the still-gzipped bytes with no header saying so. nginx answers 501 too,
    // and closes: where the body ends is not known.
    const coding = ctx.req.headers['transfer-encoding'];
    if (coding !== undefined && coding !== 'chunked' && coding.trim().toLowerCase() !== 'chunked')
      throw new GatewayError('PORTICO_ERR_NOT_IMPLEMENTED', {
        detail: 'Only the chunked transfer coding is accepted.',
        headers: { connection: 'close' },
      });
    const { path, query } = splitTarget(ctx.req.url ?? '/', ctx.config.limits.maxUrlLength);
    ctx.path = path;
    ctx.query = query;
    const client = clientOf(ctx.req, ctx.config.trustProxy);
    ctx.clientIp = client.clientIp;
    ctx.proto = client.proto;
  };
}
