import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import type { RequestContext } from '../context.ts';

type Middleware = (req: IncomingMessage, res: ServerResponse) => void;
const byLogger = new WeakMap<Logger, Middleware>();

/** One structured access-log line per request (pino-http), carrying the request id and route. */
export function accessLog(ctx: RequestContext & { res: ServerResponse }): void {
  if (!ctx.config.logging.accessLog) return;
  let middleware = byLogger.get(ctx.log);
  if (!middleware) {
    middleware = pinoHttp({
      logger: ctx.log,
      genReqId: (req) => (req as IncomingMessage & { portico?: RequestContext }).portico?.requestId ?? '-',
      customProps: (req) => ({
        route: (req as IncomingMessage & { portico?: RequestContext }).portico?.route?.id,
      }),
      customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'warn' : 'info'),
      customErrorMessage: (_req, res) => `request failed with ${res.statusCode}`,
      serializers: {
        err: (e: { message?: string }) => ({ message: e.message }),
        req: (req: { method: string; url: string; remoteAddress: string }) => ({
          method: req.method,
          url: req.url,
          remote: req.remoteAddress,
        }),
        res: (res: { statusCode: number }) => ({ status: res.statusCode }),
      },
      quietReqLogger: true,
    }) as unknown as Middleware;
    byLogger.set(ctx.log, middleware);
  }
  (ctx.req as IncomingMessage & { portico?: RequestContext }).portico = ctx;
  middleware(ctx.req, ctx.res);
}
