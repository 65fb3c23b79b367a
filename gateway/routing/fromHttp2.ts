import type { HttpContext, Stage } from '../context.ts';
import { GatewayError } from '../errors.ts';

/**
 * What an HTTP/2 request needs to read like an HTTP/1.1 one to every stage after it.
 *
 * - HTTP/2 names the host in the `:authority` pseudo-header (RFC 9113 §8.3.1), not in Host. It is
 *   copied into `Host` so that routing by host, the login's return address, the Origin check,
 *   X-Forwarded-Host and branding read one field, as over HTTP/1.1. A Host that names another
 *   authority is a request two readers could route differently: refused, as two Host headers are.
 *   The pseudo-headers stay in `req.headers` (Node reads the URL and method from them) and are
 *   never forwarded (forwardedHeaders.ts).
 * - `limits.maxHeaderSize`: Node's HTTP/1.1 parser enforces it, its HTTP/2 side only announces it
 *   (SETTINGS_MAX_HEADER_LIST_SIZE) to a client free to ignore it; counted here as HTTP/2 does
 *   (name, value and 32 bytes per field), 431 over it.
 */
export function fromHttp2(): Stage<HttpContext> {
  return (ctx) => {
    const req = ctx.req;
    if (req.httpVersionMajor !== 2) return;
    const raw = req.rawHeaders;
    let size = 0;
    for (let i = 0; i < raw.length; i += 2) size += raw[i]!.length + raw[i + 1]!.length + 32;
    if (size > ctx.config.limits.maxHeaderSize) throw new GatewayError('PORTICO_ERR_HEADERS_TOO_LARGE');
    const headers = req.headers;
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
