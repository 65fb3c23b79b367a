// EXPERIMENT (a): node:http request with a keep-alive Agent (Portico's agent settings) and the
// three-listener body relay of gateway/proxy/forwardHttp.ts.
import { Agent, type IncomingMessage, request, type ServerResponse } from 'node:http';
import type { Forward } from './minimalProxy.ts';

export function forwardHttpAgent(upstream: string): Forward {
  const target = new URL(upstream);
  const agent = new Agent({
    keepAlive: true,
    keepAliveMsecs: 1000,
    maxSockets: 256,
    maxFreeSockets: 64,
    scheduling: 'lifo',
  });
  return (req, res, path, headers) => {
    const upstreamReq = request({
      hostname: target.hostname,
      port: target.port,
      method: req.method,
      path,
      headers,
      agent,
    });
    upstreamReq.on('response', (upstreamRes: IncomingMessage) => {
      const raw = upstreamRes.rawHeaders;
      const out: string[] = [];
      for (let i = 0; i < raw.length; i += 2) {
        const name = raw[i]!.toLowerCase();
        if (name !== 'connection' && name !== 'keep-alive' && name !== 'transfer-encoding')
          out.push(raw[i]!, raw[i + 1]!);
      }
      res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.statusMessage, out);
      relayBody(upstreamRes, res);
      upstreamRes.on('error', () => res.destroy());
    });
    upstreamReq.on('error', () => {
      if (res.headersSent) res.destroy();
      else res.writeHead(502).end();
    });
    res.on('close', () => {
      if (!res.writableFinished) upstreamReq.destroy();
    });
    if (req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined)
      req.pipe(upstreamReq);
    else upstreamReq.end();
  };
}

function relayBody(from: IncomingMessage, to: ServerResponse): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) from.pause();
  });
  to.on('drain', () => from.resume());
  from.on('end', () => to.end());
}
