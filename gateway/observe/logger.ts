import { createRequire } from 'node:module';
import { type DestinationStream, type Logger, type LoggerOptions, pino } from 'pino';

export type LogFormat = 'json' | 'pretty';

/**
 * `logging.format` when set; otherwise pretty for a person at a terminal and JSON for machines
 * (a pipe, a file, a container log driver).
 */
export function logFormat(
  asked: LogFormat | undefined,
  stdout: { isTTY?: boolean } = process.stdout,
): LogFormat {
  return asked ?? (stdout.isTTY ? 'pretty' : 'json');
}

/** JSON logs on stdout; secrets that may ride on a logged object are redacted by path. */
export function createLogger(level = process.env.PORTICO_LOG_LEVEL ?? 'info', format?: LogFormat): Logger {
  const options: LoggerOptions = {
    level,
    base: { service: 'portico' },
    timestamp: pino.stdTimeFunctions.isoTime,
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
  };
  return logFormat(format) === 'pretty' ? pino(options, prettyStream()) : pino(options);
}

/** pino-pretty is loaded only when pretty output is used: JSON deployments never pay for it. */
export function prettyStream(extra: { messageFormat?: string; ignore?: string } = {}): DestinationStream {
  const pretty = createRequire(import.meta.url)('pino-pretty') as (o: object) => DestinationStream;
  return pretty({
    // Synchronous, so the last lines before an exit are not lost; a terminal is not a hot path.
    sync: true,
    colorize: process.stdout.isTTY === true,
    singleLine: true,
    errorLikeObjectKeys: [],
    translateTime: "UTC:yyyy-mm-dd'T'HH:MM:ss.l'Z'",
    ignore: 'pid,hostname,service',
    ...extra,
  });
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
