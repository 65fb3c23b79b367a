import type { HttpContext, Stage } from '../context.ts';
import { GatewayError } from '../errors.ts';

/**
 * HTTP/2 names the host in the `:authority` pseudo-header (RFC 9113 §8.3.1), not in Host. It is
 * copied into `Host` here so that everything after (routing by host, the login's return address,
 * the Origin check, X-Forwarded-Host, branding) reads one field, as over HTTP/1.1. A Host that
 * names another authority is a request two readers could route differently: refused, as two Host
 * headers are. The pseudo-headers themselves stay in `req.headers` (Node reads the URL and method
 * from them) and are never forwarded (forwardedHeaders.ts).
 */
export function authorityAsHost(): Stage<HttpContext> {
  return (ctx) => {
    if (ctx.req.httpVersionMajor !== 2) return;
    const headers = ctx.req.headers;
    const authority = headers[':authority'];
    if (typeof authority !== 'string' || authority === '') {
      if (headers.host === undefined)
        throw new GatewayError('PORTICO_ERR_BAD_REQUEST', { detail: 'No :authority and no Host.' });
      return;
    }
    if (headers.host !== undefined && headers.host.toLowerCase() !== authority.toLowerCase())
      throw new GatewayError('PORTICO_ERR_BAD_REQUEST', { detail: 'Host differs from :authority.' });
    headers.host = authority;
  };
}
