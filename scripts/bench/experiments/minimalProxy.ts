// EXPERIMENT, not used by the gateway: the same minimal reverse proxy (node:http server, /dce5/
// stripped, X-Forwarded-For appended, hop-by-hop headers dropped, keep-alive to the upstream) with
// interchangeable ways of forwarding, to measure what each costs per request (issue 18).
// Usage: node minimalProxy.ts VARIANT UPSTREAM PORT
//   a  node:http request + keep-alive Agent, the body relayed as Portico's forwardHttp does
//   b  undici Pool per upstream origin, pool.request(), the body streamed
//   c  undici pool.dispatch() with a raw handler writing to the ServerResponse
//   d  (c) + an access line built as a string, written through one sonic-boom (pino.destination)
//   e  (c) + an access line as pino.info({...flat fields}), as Portico writes it today
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { forwardDispatch } from './forwardDispatch.ts';
import { forwardHttpAgent } from './forwardHttpAgent.ts';
import { forwardUndiciRequest } from './forwardUndiciRequest.ts';
import { accessLine } from './accessLine.ts';

const [variant, upstream, port] = process.argv.slice(2);
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'te',
  'trailer',
  'upgrade',
]);

/** What the upstream receives: the client's headers less hop-by-hop, X-Forwarded-For appended. */
function upstreamHeaders(req: IncomingMessage): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {};
  for (const name in req.headers) if (!HOP_BY_HOP.has(name)) out[name] = req.headers[name];
  const prior = req.headers['x-forwarded-for'];
  const ip = req.socket.remoteAddress ?? '';
  out['x-forwarded-for'] = prior ? `${prior}, ${ip}` : ip;
  return out;
}

export type Forward = (
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  headers: IncomingHttpHeaders,
) => void;

const forward: Forward =
  variant === 'a'
    ? forwardHttpAgent(upstream!)
    : variant === 'b'
      ? forwardUndiciRequest(upstream!)
      : forwardDispatch(
          upstream!,
          variant === 'd'
            ? accessLine.sonicBoomString()
            : variant === 'e'
              ? accessLine.pinoObject()
              : undefined,
        );

const server = createServer((req, res) => {
  const url = req.url ?? '/';
  if (!url.startsWith('/dce5/')) {
    res.writeHead(404).end();
    return;
  }
  forward(req, res, url.slice(5), upstreamHeaders(req));
});
server.keepAliveTimeout = 65_000;
server.listen(Number(port), '127.0.0.1');
