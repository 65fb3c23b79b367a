import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { Express, NextFunction, Request, Response } from 'express';
import type helmet from 'helmet';
import type { Config } from '../config/types.ts';
import { expressLibrary } from './expressLibrary.ts';
import { answerHealthCheck, type Readiness } from './healthChecks.ts';
import type { OwnApp, OwnRequest, OwnRouter } from './ownEndpoints.ts';
import { overHttp2 } from './overHttp2.ts';
import { GatewayError, toGatewayError } from '../errors.ts';
import { respondError } from '../pages/errorResponse.ts';
import type { Pages } from '../pages/pages.ts';

export type OwnAppOptions = {
  config: () => Config;
  /** Feature routers, mounted under /_portico/ in this order. */
  routers: OwnRouter[];
  readiness: () => Promise<{ ok: boolean; checks: Record<string, unknown> }>;
  pages: Pages;
};

const require = createRequire(import.meta.url);

/**
 * Portico's own endpoints. helmet applies here and only here: proxied answers pass through as the
 * upstream sent them. Two copies of the same app, one for HTTP/1.1 and one for HTTP/2 requests
 * (see overHttp2.ts), sharing the feature routers. Each is made on its first request, so a gateway
 * whose own endpoints are never asked for (health checks aside) never loads express or helmet.
 */
export function createOwnApp(o: OwnAppOptions): OwnApp {
  let http1: Express | undefined;
  let http2: Express | undefined;
  const readyz: Readiness = async () => {
    const r = await o.readiness();
    const c = o.config();
    return {
      status: r.ok ? 200 : 503,
      body: {
        status: r.ok ? 'ready' : 'not ready',
        config: { hash: c.sourceHash.slice(0, 12), loadedAt: c.loadedAt },
        checks: r.checks,
      },
    };
  };
  const app = (req: IncomingMessage, res: ServerResponse) => {
    if (req.httpVersionMajor !== 2) {
      http1 ??= buildApp(o, readyz);
      return http1(req, res);
    }
    // Made on the first HTTP/2 request, over its own prototypes (before express replaces them):
    // nothing of node:http2 is loaded here, and a gateway without HTTP/2 never makes it.
    http2 ??= overHttp2(buildApp(o, readyz), Object.getPrototypeOf(req), Object.getPrototypeOf(res));
    http2(req, res);
  };
  return (req, res) => {
    if (!answerHealthCheck(req, res, readyz, () => app(req, res))) app(req, res);
  };
}

function buildApp(o: OwnAppOptions, readyz: Readiness): Express {
  const express = expressLibrary();
  const helmetOf = (require('helmet') as { default: typeof helmet }).default;
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.use(
    helmetOf({
      contentSecurityPolicy: {
        directives: {
          defaultSrc: ["'self'"],
          scriptSrc: ["'self'"],
          styleSrc: ["'self'", "'unsafe-inline'"],
          imgSrc: ["'self'", 'data:', 'https:'],
          formAction: ["'self'", 'https:', 'http:'],
          frameAncestors: ["'self'"],
          upgradeInsecureRequests: null,
        },
      },
      crossOriginResourcePolicy: { policy: 'same-site' },
      strictTransportSecurity: false,
    }),
  );
  const router = express.Router();
  router.get('/healthz', (_req, res) => {
    res.set('cache-control', 'no-store').json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res, next) => {
    try {
      const r = await readyz();
      res.status(r.status).set('cache-control', 'no-store').json(r.body);
    } catch (err) {
      next(err);
    }
  });
  // Feature routers are read per request: features are started after this app is made.
  router.use((req, res, next) => {
    let i = 0;
    const step = (err?: unknown): void => {
      const r = err ? undefined : o.routers[i++];
      if (r) r(req, res, step);
      else next(err);
    };
    step();
  });
  app.use('/_portico', router);
  app.use((_req, _res, next) => next(new GatewayError('PORTICO_ERR_NOT_FOUND')));
  app.use((err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const e = toGatewayError(err);
    const portico = (req as OwnRequest).portico;
    const id = portico?.requestId ?? '-';
    if (e.status >= 500) portico?.log?.error({ err: e.cause ?? e, reqId: id }, e.code);
    respondError(req as IncomingMessage, res as ServerResponse, e, id, o.pages, {
      identity: portico?.identity,
    });
  });
  return app;
}
