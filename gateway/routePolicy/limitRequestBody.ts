import type { IncomingMessage } from 'node:http';
import { Transform } from 'node:stream';
import type { HttpContext, Stage } from '../context.ts';
import { GatewayError } from '../errors.ts';
import { requestHasBody } from '../proxy/requestHasBody.ts';

/** How long the rest of a refused upload is read and dropped before the connection is cut. */
const LINGER_MS = 5000;

/**
 * `maxBodySize` (the route's, else `limits.maxBodySize`; nginx client_max_body_size): a declared
 * Content-Length over the limit is refused with 413 before anything is sent upstream (and before
 * `100 Continue`, so a client that asked first never sends the body). A chunked body has no length
 * to read, so it is counted on its way: the chunk that would pass the limit is never sent, the
 * upstream request is cut, and the client gets the 413 (unless the upstream has already answered,
 * then the answer is cut). So is an HTTP/2 body sent without Content-Length.
 */
export function limitRequestBody(): Stage<HttpContext> {
  return (ctx) => {
    const limit = ctx.route!.maxBodySize;
    if (limit === 0) return;
    const length = ctx.req.headers['content-length'];
    if (length !== undefined) {
      if (Number(length) <= limit) return;
      lingerThenClose(ctx.req);
      throw tooLarge(limit);
    }
    if (requestHasBody(ctx.req)) ctx.requestBody = countedBody(limit);
  };
}

function tooLarge(limit: number): GatewayError {
  return new GatewayError('PORTICO_ERR_TOO_LARGE', {
    detail: `This address takes at most ${limit} bytes.`,
    extra: { limit },
  });
}

/**
 * nginx's lingering close: the rest of the upload is read and dropped for a while after the 413,
 * because closing on a client still sending makes its kernel discard the answer (a reset instead
 * of the 413). A body that ends in time leaves the connection open for the next request.
 */
function lingerThenClose(req: IncomingMessage): void {
  if (req.complete) return;
  const timer = setTimeout(() => req.socket.destroy(), LINGER_MS);
  const done = () => clearTimeout(timer);
  req.once('end', done);
  req.once('close', done);
}

/**
 * The body, chunk by chunk with backpressure, up to `limit` bytes: the chunk that would pass it
 * is never sent; the stream fails with the 413, which stops the upstream request.
 */
function countedBody(limit: number) {
  return (from: IncomingMessage): Transform => {
    let seen = 0;
    const counted = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        seen += chunk.length;
        if (seen <= limit) return callback(null, chunk);
        from.unpipe(counted);
        lingerThenClose(from);
        from.resume();
        callback(tooLarge(limit));
      },
    });
    return from.pipe(counted);
  };
}
