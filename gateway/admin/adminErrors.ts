import type { NextFunction, Request, Response } from 'express';

/**
 * Answers of the admin API, always JSON. The codes follow the PORTICO_ERR_* registry in
 * errors.ts; the ones only an API client meets (412, 422, 428, …) live here.
 */
export const ADMIN_ERRORS = {
  PORTICO_ERR_BAD_REQUEST: 400,
  PORTICO_ERR_UNAUTHENTICATED: 401,
  PORTICO_ERR_FORBIDDEN: 403,
  PORTICO_ERR_NOT_FOUND: 404,
  PORTICO_ERR_CONFLICT: 409,
  PORTICO_ERR_PRECONDITION_FAILED: 412,
  PORTICO_ERR_TOO_LARGE: 413,
  PORTICO_ERR_UNSUPPORTED_TYPE: 415,
  PORTICO_ERR_INVALID_CONFIG: 422,
  PORTICO_ERR_INVALID_ASSET: 422,
  PORTICO_ERR_PRECONDITION_REQUIRED: 428,
  PORTICO_ERR_TOO_MANY: 429,
  PORTICO_ERR_INTERNAL: 500,
  PORTICO_ERR_NOT_IMPLEMENTED: 501,
  PORTICO_ERR_UNAVAILABLE: 503,
} as const;

export type AdminErrorCode = keyof typeof ADMIN_ERRORS;

export class AdminError extends Error {
  readonly code: AdminErrorCode;
  readonly status: number;
  readonly headers: Record<string, string> | undefined;
  readonly extra: Record<string, unknown> | undefined;
  constructor(
    code: AdminErrorCode,
    message: string,
    options: { headers?: Record<string, string>; extra?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'AdminError';
    this.code = code;
    this.status = ADMIN_ERRORS[code];
    this.headers = options.headers;
    this.extra = options.extra;
  }
}

/** Body-parser errors (size, JSON syntax) and anything unexpected, as AdminErrors. */
export function toAdminError(err: unknown): AdminError {
  if (err instanceof AdminError) return err;
  const e = err as { type?: string; status?: number; message?: string; limit?: number };
  if (e?.type === 'entity.too.large')
    return new AdminError('PORTICO_ERR_TOO_LARGE', `The body is larger than the limit of ${e.limit} bytes.`);
  if (typeof e?.status === 'number' && e.status >= 400 && e.status < 500)
    return new AdminError('PORTICO_ERR_BAD_REQUEST', e.message ?? 'The request could not be understood.');
  return new AdminError('PORTICO_ERR_INTERNAL', 'The admin API could not complete this request.', {
    cause: err,
  });
}

export function sendAdminError(res: Response, err: AdminError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res
    .status(err.status)
    .set({ 'cache-control': 'no-store', ...err.headers })
    .json({ error: err.code, status: err.status, message: err.message, ...err.extra });
}

/** The admin router's error handler: 5xx are logged with their cause, never shown. */
export function adminErrorHandler(log: { error: (o: object, m: string) => void }) {
  return (err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const e = toAdminError(err);
    if (e.status >= 500) log.error({ err: e.cause ?? e }, 'admin API error');
    sendAdminError(res, e);
  };
}
