// The express peer, set up the way a user would: http-proxy-3 with a keep-alive agent (without one
// it closes every upstream connection), mounted at /dce5 so express strips the prefix, `xfwd` for
// X-Forwarded-For; no auth, no logging.
// Usage: node expressHttpProxy3.ts UPSTREAM PORT [WORKERS]
import { Agent, createServer } from 'node:http';
import express from 'express';
import { createProxyServer } from 'http-proxy-3';
import { serveWorkers } from './serveWorkers.ts';

const [upstream, port, workers] = process.argv.slice(2);

await serveWorkers(
  Number(workers ?? 1),
  async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 128 });
    const proxy = createProxyServer({ target: upstream!, agent, xfwd: true });
    proxy.on('error', (_err, _req, res) => {
      if ('writeHead' in res && !res.headersSent) res.writeHead(502).end();
      else res.destroy();
    });
    const app = express();
    app.disable('x-powered-by');
    app.use('/dce5', (req, res) => proxy.web(req, res));
    return createServer(app);
  },
  Number(port),
);
