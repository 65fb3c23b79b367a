// EXPERIMENT (c), and with an access line (d, e): undici pool.dispatch() with a handler that
// writes straight to the ServerResponse, no intermediate stream; backpressure through the
// dispatch controller.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Pool } from 'undici';
import type { Forward } from './minimalProxy.ts';
import { responseHeaders } from './responseHeaders.ts';

export type AccessLog = (req: IncomingMessage, res: ServerResponse, path: string, startedAt: number) => void;

export function forwardDispatch(upstream: string, access?: AccessLog): Forward {
  const pool = new Pool(new URL(upstream).origin, {
    connections: 256,
    pipelining: 1,
    keepAliveTimeout: 60_000,
  });
  return (req, res, path, headers) => {
    const startedAt = access ? performance.now() : 0;
    if (access) res.once('finish', () => access(req, res, path, startedAt));
    const hasBody =
      req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
    pool.dispatch(
      {
        method: req.method as 'GET',
        path,
        headers: headers as Record<string, string>,
        body: hasBody ? req : null,
      },
      {
        onRequestStart(controller) {
          res.on('close', () => {
            if (!res.writableFinished) controller.abort(new Error('client went away'));
          });
        },
        onResponseStart(_controller, statusCode, h, statusMessage) {
          if (statusCode < 200) return; // 1xx: Node answers 100-continue itself
          res.writeHead(statusCode, statusMessage, responseHeaders(h as Record<string, string | string[]>));
        },
        onResponseData(controller, chunk) {
          if (!res.write(chunk)) {
            controller.pause();
            res.once('drain', () => controller.resume());
          }
        },
        onResponseEnd() {
          res.end();
        },
        onResponseError(_controller, _err) {
          if (res.headersSent) res.destroy();
          else res.writeHead(502).end();
        },
      },
    );
  };
}
