import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import type { HttpContext, Stage, UpgradeContext } from '../context.ts';
import { GatewayError } from '../errors.ts';
import { requestHasBody } from '../proxy/requestHasBody.ts';
import { sendContinue } from '../proxy/sendContinue.ts';

export const OWN_PREFIX = '/_portico/';
/** Portico's own path space: answered by Portico, never proxied. */
export const isOwn = (path: string) => path.startsWith(OWN_PREFIX) || path === '/_portico';

/** The express app behind /_portico/ and what it may read of the request's context. */
export type OwnApp = (req: IncomingMessage, res: ServerResponse) => void;
export type OwnRequest = IncomingMessage & { portico?: HttpContext };
/** A feature's endpoints, mounted under /_portico/ (an express router, or one made on first use). */
export type OwnRouter = (req: Request, res: Response, next: NextFunction) => void;

/** Portico's own endpoints (/_portico/…) go to the express app; the proxied path never touches express. */
export function ownEndpoints(s: { ownApp: OwnApp }): Stage<HttpContext> {
  return (ctx) => {
    if (!isOwn(ctx.path)) return;
    ctx.done = true;
    bodyDeadline(ctx.req, ctx.res, ctx.config.limits.ownBodyTimeoutMs);
    sendContinue(ctx.req, ctx.res);
    (ctx.req as OwnRequest).portico = ctx;
    s.ownApp(ctx.req, ctx.res);
  };
}

/**
 * A body sent to Portico's own endpoints must arrive within `limits.ownBodyTimeout`: their parsers
 * wait for the whole of it, and with `requestTimeout` off (the default, for long uploads to
 * upstreams) a client sending one byte every few seconds would hold a connection for good.
 */
function bodyDeadline(req: IncomingMessage, res: ServerResponse, ms: number): void {
  if (req.complete || ms <= 0 || !requestHasBody(req)) return;
  const timer = setTimeout(() => {
    if (req.complete) return;
    const close = () => req.socket.destroy();
    if (res.headersSent) {
      close();
      return;
    }
    res.writeHead(408, { 'content-type': 'text/plain; charset=utf-8', connection: 'close' });
    res.end('The request body did not arrive in time.\n', close);
  }, ms);
  timer.unref();
  const stop = () => clearTimeout(timer);
  req.once('end', stop);
  req.once('close', stop);
}

/** No endpoint of Portico's speaks WebSocket, and nothing under /_portico/ ever reaches an upstream. */
export function refuseOwnUpgrade(): Stage<UpgradeContext> {
  return (ctx) => {
    if (isOwn(ctx.path)) throw new GatewayError('PORTICO_ERR_NOT_FOUND');
  };
}
