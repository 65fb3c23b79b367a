import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { NextFunction, Request, Response } from 'express';
import type { RawAdminConfig } from '../config/adminSchema.ts';
import { expressLibrary } from '../endpoints/expressLibrary.ts';
import { routerOnFirstRequest } from '../endpoints/routerOnFirstRequest.ts';
import type { BrandAssetSource } from '../branding/assetSource.ts';
import { createServer } from '../nodeHttp.ts';
import type { FeatureFactory } from '../server.ts';
import type { WritableBrandAssetSource } from '../storage/brandAssets.ts';
import { AdminError, adminErrorHandler } from './adminErrors.ts';

export type RevokeQuery = { idp?: string; sub?: string; username?: string };

export type AdminFeatureOptions = {
  /** Ends a user's sessions on every replica (the session store's job); answers how many. */
  revokeUserSessions?: (q: RevokeQuery) => Promise<number>;
  /**
   * Where uploaded brand assets go: `source` when it can be written to (object storage),
   * else the branding folder `dir`.
   */
  branding?: { dir: string; source?: BrandAssetSource | WritableBrandAssetSource };
  /** Replicas seen, when something tracks them (status shows "unknown" otherwise). */
  replicas?: () => Promise<number | string[]>;
  /** Called with the admin listener's URL once it listens (only with `admin.listen`). */
  onListening?: (url: string) => void;
};

/**
 * The admin API under /_portico/admin/, for CI pipelines and operators: API keys only (hashed in
 * routes.yaml, compared in constant time, with scopes), rate-limited per key, wrong keys throttled
 * per presented key id and in total (never per address, never a valid key), every change published to the gateway's `audit` event as `admin.change`. With
 * `admin.listen` it is served only on that listener (loopback by default), never on the main port.
 */
export function adminFeature(options: AdminFeatureOptions = {}): FeatureFactory {
  return (ctx) => {
    const startedAt = new Date();
    const adminConfig = () => (ctx.config().raw.admin ?? {}) as RawAdminConfig;
    // The API's code (and everything it uses) is loaded by its first request.
    const api = routerOnFirstRequest(async () =>
      (await import('./adminRouter.ts')).adminRouter(ctx, options, startedAt),
    );
    const listen = adminConfig().listen;
    if (!listen) {
      const router = routerOnFirstRequest(() => expressLibrary().Router().use('/admin', api));
      return { name: 'admin', routers: [router] };
    }

    // Own listener: the main port answers 404 for the admin API.
    const express = expressLibrary();
    const app = express();
    app.disable('x-powered-by');
    app.use('/_portico/admin', api);
    app.use(notFound);
    app.use(adminErrorHandler(ctx.log));
    const server: Server = createServer(app);
    const host = listen.host ?? '127.0.0.1';
    server.on('error', (err) => ctx.log.error({ err, host, port: listen.port }, 'admin listener failed'));
    server.listen(listen.port ?? 9901, host, () => {
      const a = server.address() as AddressInfo;
      const url = `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
      ctx.log.info({ url }, 'admin API listening');
      options.onListening?.(url);
    });
    const hidden = express.Router();
    hidden.use('/admin', notFound);
    hidden.use('/admin', adminErrorHandler(ctx.log));
    return {
      name: 'admin',
      routers: [hidden],
      close: () =>
        new Promise<void>((resolve) => {
          if (!server.listening) return resolve();
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    };
  };
}

export function notFound(_req: Request, _res: Response, next: NextFunction): void {
  next(new AdminError('PORTICO_ERR_NOT_FOUND', 'There is no admin endpoint at this address.'));
}
