import { createHash, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { expressLibrary } from '../../endpoints/expressLibrary.ts';
import { createServer } from '../../nodeHttp.ts';
import type { AddressInfo } from 'node:net';
import type { Router } from 'express';
import type { Logger } from 'pino';
import type { MetricsConfig } from '../../config/opsSchema.ts';
import type { Metrics } from './metrics.ts';

const digest = (s: string) => createHash('sha256').update(s).digest();

/** `Authorization: Bearer <token>` checked in constant time; no token configured means open. */
export function authorised(req: IncomingMessage, token: string | undefined): boolean {
  if (!token) return true;
  const header = req.headers.authorization ?? '';
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m !== null && timingSafeEqual(digest(m[1]!), digest(token));
}

async function answer(
  metrics: () => Metrics,
  settings: MetricsConfig,
  req: IncomingMessage,
  res: ServerResponse,
) {
  res.setHeader('cache-control', 'no-store');
  if (!authorised(req, settings.token)) {
    res.statusCode = 401;
    res.setHeader('www-authenticate', 'Bearer realm="portico-metrics"');
    res.setHeader('content-type', 'text/plain; charset=utf-8');
    res.end('a bearer token is required\n');
    return;
  }
  const { registry } = metrics();
  const body = await registry.metrics();
  res.setHeader('content-type', registry.contentType);
  res.end(req.method === 'HEAD' ? undefined : body);
}

/**
 * `/_portico/metrics` on the main listener, unless metrics are off or served on their own
 * listener (`metrics.listen`), in which case the main listener does not expose them.
 */
export function metricsRouter(metrics: () => Metrics, settings: () => MetricsConfig | undefined): Router {
  const router = expressLibrary().Router();
  router.get('/metrics', (req, res, next) => {
    const s = settings() ?? {};
    if (s.enabled === false || s.listen) return next();
    answer(metrics, s, req, res).catch(next);
  });
  return router;
}

export type MetricsListener = { server: Server; url: () => string | undefined; close(): Promise<void> };

/** A listener of its own for Prometheus (e.g. only on the cluster network): `/metrics` and `/_portico/metrics`. */
export function startMetricsListener(
  metrics: () => Metrics,
  listen: NonNullable<MetricsConfig['listen']>,
  settings: () => MetricsConfig | undefined,
  log: Logger,
): MetricsListener {
  let failed: Error | undefined;
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (
      (req.method !== 'GET' && req.method !== 'HEAD') ||
      (path !== '/metrics' && path !== '/_portico/metrics')
    ) {
      res.statusCode = 404;
      res.end();
      return;
    }
    answer(metrics, settings() ?? {}, req, res).catch((err) => {
      log.warn({ err }, 'metrics scrape failed');
      if (!res.headersSent) res.statusCode = 500;
      res.end();
    });
  });
  server.on('error', (err) => {
    failed = err;
    log.error({ err, port: listen.port }, 'metrics listener failed');
  });
  server.listen(listen.port, listen.host ?? '0.0.0.0');
  return {
    server,
    url() {
      if (failed) return undefined;
      const a = server.address() as AddressInfo | null;
      if (!a) return undefined;
      return `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}/metrics`;
    },
    async close() {
      if (!server.listening) return;
      const closed = once(server, 'close');
      server.close();
      server.closeAllConnections();
      await closed;
    },
  };
}
