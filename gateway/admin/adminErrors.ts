import type { NextFunction, Request, Response } from 'express';
import { type ErrorCode, GatewayError, type GatewayErrorOptions, toGatewayError } from '../errors.ts';
import { errorJson } from '../pages/errorResponse.ts';

/**
 * The admin API's errors are the gateway's errors (errors.ts: one registry of codes, statuses
 * and texts); it speaks to programs, so each carries a message written for the caller.
 */
export class AdminError extends GatewayError {
  constructor(code: ErrorCode, message: string, options: Omit<GatewayErrorOptions, 'message'> = {}) {
    super(code, { ...options, message });
  }
}

/** The admin router's error handler: always JSON; 5xx are logged with their cause, never shown. */
export function adminErrorHandler(log: { error: (o: object, m: string) => void }) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction) => {
    const e = toGatewayError(err);
    if (e.status >= 500) log.error({ err: e.cause ?? e }, 'admin API error');
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const requestId = (req as { portico?: { requestId?: string } }).portico?.requestId ?? '-';
    res
      .status(e.status)
      .set({ 'cache-control': 'no-store', 'content-type': 'application/json; charset=utf-8', ...e.headers })
      .send(errorJson(e, requestId));
  };
}
