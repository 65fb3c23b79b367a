import { pino, type Logger } from 'pino';

/** JSON logs on stdout; secrets that may ride on a logged object are redacted by path. */
export function createLogger(level = process.env.PORTICO_LOG_LEVEL ?? 'info'): Logger {
  return pino({
    level,
    base: { service: 'portico' },
    // Logs carry what failed, never a stack trace: those go to Sentry when it is configured.
    serializers: { err: serializeError },
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        'res.headers["set-cookie"]',
        '*.clientSecret',
        '*.secret',
        '*.password',
        '*.accessToken',
        '*.refreshToken',
        '*.idToken',
      ],
      censor: '[redacted]',
    },
  });
}

/**
 * The access log: the same stream (stdout), without the redaction pass. Its lines are built field by field
 * from what is safe to log (method, path, status, route, user, request id; no headers, and no
 * query of Portico's own endpoints), and the redaction pass was measured at ~35 µs per line.
 */
export function createAccessLogger(level: string): Logger {
  return pino({ level, base: { service: 'portico' } });
}

function serializeError(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { message: String(err) };
  const e = err as Error & { code?: unknown; status?: unknown };
  const out: Record<string, unknown> = { type: e.name, message: e.message };
  if (e.code !== undefined) out.code = e.code;
  if (e.status !== undefined) out.status = e.status;
  if (e.cause instanceof Error) out.cause = serializeError(e.cause);
  return out;
}
