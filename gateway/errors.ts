/**
 * One error type for everything the gateway answers on its own. `code` is stable (clients and
 * tests match on it); `expose` decides whether the message may be shown to the client: details of
 * 5xx errors stay in the logs, as in node-oidc-provider's error handler.
 */
export const ERROR_CODES = {
  PORTICO_ERR_BAD_REQUEST: { status: 400, message: 'The request could not be understood.' },
  PORTICO_ERR_BAD_PATH: { status: 400, message: 'The request path is not allowed.' },
  PORTICO_ERR_UNAUTHENTICATED: { status: 401, message: 'You need to sign in to open this page.' },
  PORTICO_ERR_FORBIDDEN: { status: 403, message: 'You do not have access to this page.' },
  PORTICO_ERR_BAD_ORIGIN: { status: 403, message: 'The request came from a site that is not allowed.' },
  PORTICO_ERR_NOT_FOUND: { status: 404, message: 'There is no page at this address.' },
  PORTICO_ERR_METHOD: { status: 405, message: 'This method is not allowed here.' },
  PORTICO_ERR_TOO_LARGE: { status: 413, message: 'The request is too large.' },
  PORTICO_ERR_TOO_MANY: { status: 429, message: 'Too many requests. Try again shortly.' },
  PORTICO_ERR_INTERNAL: { status: 500, message: 'Something went wrong in the gateway.' },
  PORTICO_ERR_UPSTREAM: { status: 502, message: 'The service behind this page is not reachable.' },
  PORTICO_ERR_UNAVAILABLE: { status: 503, message: 'The gateway cannot check your session right now.' },
  PORTICO_ERR_UPSTREAM_TIMEOUT: {
    status: 504,
    message: 'The service behind this page did not answer in time.',
  },
  PORTICO_ERR_LOGIN: { status: 400, message: 'Sign-in could not be completed. Please start again.' },
  PORTICO_ERR_IDP: { status: 502, message: 'The identity provider could not be reached.' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export type GatewayErrorOptions = {
  cause?: unknown;
  /** Client-facing detail; shown only when the error is exposed. */
  detail?: string;
  /** Extra JSON fields for API clients (for example `login` for a 401). */
  extra?: Record<string, unknown>;
  headers?: Record<string, string>;
};

export class GatewayError extends Error {
  readonly status: number;
  readonly code: ErrorCode;
  readonly expose: boolean;
  readonly detail: string | undefined;
  readonly extra: Record<string, unknown> | undefined;
  readonly headers: Record<string, string> | undefined;

  constructor(code: ErrorCode, options: GatewayErrorOptions = {}) {
    const { status, message } = ERROR_CODES[code];
    super(message, { cause: options.cause });
    this.name = 'GatewayError';
    this.status = status;
    this.code = code;
    this.expose = status < 500;
    this.detail = options.detail;
    this.extra = options.extra;
    this.headers = options.headers;
  }
}

/** Wraps anything thrown into a GatewayError without losing the original as `cause`. */
export function toGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  // Libraries (express, body parsers) mark the client's mistakes with a 4xx status.
  const status = Number(
    (err as { status?: unknown; statusCode?: unknown })?.status ??
      (err as { statusCode?: unknown })?.statusCode,
  );
  if (status === 413) return new GatewayError('PORTICO_ERR_TOO_LARGE', { cause: err });
  if (status >= 400 && status < 500) return new GatewayError('PORTICO_ERR_BAD_REQUEST', { cause: err });
  return new GatewayError('PORTICO_ERR_INTERNAL', { cause: err });
}
