// EXPERIMENT (b): one undici Pool per upstream origin, pool.request(), the response body (a
// Readable) streamed to the client with backpressure.
import { Pool } from 'undici';
import type { Forward } from './minimalProxy.ts';
import { responseHeaders } from './responseHeaders.ts';

export function forwardUndiciRequest(upstream: string): Forward {
  const pool = new Pool(new URL(upstream).origin, {
    connections: 256,
    pipelining: 1,
    keepAliveTimeout: 60_000,
  });
  return (req, res, path, headers) => {
    const hasBody =
      req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    pool
      .request({
        method: req.method as 'GET',
        path,
        headers: headers as Record<string, string>,
        body: hasBody ? req : null,
      })
      .then(
        ({ statusCode, headers: h, body }) => {
          res.writeHead(statusCode, responseHeaders(h));
          body.on('data', (chunk: Buffer) => {
            if (!res.write(chunk)) body.pause();
          });
          res.on('drain', () => body.resume());
          body.on('end', () => res.end());
          body.on('error', () => res.destroy());
          res.on('close', () => {
            if (!res.writableFinished) body.destroy();
          });
        },
        () => {
          if (res.headersSent) res.destroy();
          else res.writeHead(502).end();
        },
      );
  };
}
