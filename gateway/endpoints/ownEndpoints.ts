import type { IncomingMessage, ServerResponse } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import type { HttpContext, Stage, UpgradeContext } from '../context.ts';
import { GatewayError } from '../errors.ts';
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
    sendContinue(ctx.req, ctx.res);
    (ctx.req as OwnRequest).portico = ctx;
    s.ownApp(ctx.req, ctx.res);
  };
}

/** No endpoint of Portico's speaks WebSocket, and nothing under /_portico/ ever reaches an upstream. */
export function refuseOwnUpgrade(): Stage<UpgradeContext> {
  return (ctx) => {
    if (isOwn(ctx.path)) throw new GatewayError('PORTICO_ERR_NOT_FOUND');
  };
}
