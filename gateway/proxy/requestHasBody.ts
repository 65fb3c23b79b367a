import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';

/**
 * Whether a request carries a body. HTTP/1.1 says so with Content-Length or Transfer-Encoding;
 * HTTP/2 frames the body itself and needs neither: its request has a body unless the HEADERS
 * frame ended the stream (a browser's streamed upload sends no Content-Length).
 */
export function requestHasBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return length !== '0';
  if (req.headers['transfer-encoding'] !== undefined) return true;
  return req.httpVersionMajor === 2 && !(req as unknown as Http2ServerRequest).stream.endAfterHeaders;
}
