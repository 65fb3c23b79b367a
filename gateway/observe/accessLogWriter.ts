import type { Logger } from 'pino';
import { pino } from 'pino';
import { type LogFormat, logFormat, prettyStream } from './logger.ts';

/** What one access line says; absent fields are left out of the line. */
export type AccessFields = {
  reqId: string;
  method: string | undefined;
  url: string;
  remote: string | undefined;
  route: string | undefined;
  /** The server picked among the route's `upstreams` (nginx `$upstream_addr`). */
  upstream: string | undefined;
  status: number;
  user: string | undefined;
  ms: number;
  aborted: true | undefined;
  ws: true | undefined;
  h2: true | undefined;
};

/** The access log: one line per answered request (`warn` from status 500 on, else `info`). */
export type AccessLog = {
  /** False when the level leaves `info` out: then no line is built at all. */
  readonly enabled: boolean;
  write(fields: AccessFields): void;
  /** Writes the lines it still holds and stops its timer (lines held at exit are written then). */
  close(): void;
};

export type Destination = { write(line: string): unknown };

const FIELDS = [
  'reqId',
  'method',
  'url',
  'remote',
  'route',
  'upstream',
  'status',
  'user',
  'ms',
  'aborted',
  'ws',
  'h2',
] as const satisfies readonly (keyof AccessFields)[];

/**
 * The access log on stdout, without the redaction pass: its lines are built field by field from
 * what is safe to log (method, path, status, route, user, request id; no headers, and no query of
 * Portico's own endpoints).
 *
 * In JSON, the line is the one pino writes for `logger.info(fields, 'request completed')` — same
 * keys, same order, same escaping (test/ops/accessLogWriter.test.ts compares them) — but built as
 * one string and handed to the destination directly: through `pino.info()` of an object it cost
 * ~20 µs more CPU per proxied request (BENCHMARKS.md, "The access line"), a sixth of the request.
 * Lines are held and written every `flushMs` (or once 4 KB wait), as nginx's
 * `access_log … buffer= flush=` and Envoy's file access log do: one write per line cost another
 * ~20 µs. Each write is at most 4096 bytes of whole lines, so a pipe (a container's log driver)
 * never interleaves them with the operational log's lines. What is held is written on close and
 * on exit; a SIGKILL loses at most `flushMs`. `flushMs: 0` writes each line at once.
 * The pretty form (a terminal) reads `GET /dce5/x → 200 in 3 ms`.
 */
export function createAccessLog(
  level: string,
  format: LogFormat | undefined,
  flushMs: number,
  /** Where lines go; stdout unless a test reads them. */
  // Synchronous: a batch is written whole or the process waits (pino's EAGAIN handling), never half.
  destination: Destination = pino.destination({ dest: 1, sync: true }),
): AccessLog {
  const options = { level, base: { service: 'portico' }, timestamp: pino.stdTimeFunctions.isoTime };
  if (logFormat(format) !== 'json')
    return accessLogThrough(
      pino(
        options,
        prettyStream({
          messageFormat: '{method} {url} → {status} in {ms} ms',
          ignore: 'pid,hostname,service,method,url,status,ms',
        }),
      ),
    );
  // The logger is only asked which levels are on, so `level` means what it means everywhere.
  const enabled = pino(options, destination).isLevelEnabled('info');
  const now = isoClock();
  if (flushMs <= 0)
    return { enabled, write: (fields) => void destination.write(jsonLine(fields, now())), close() {} };
  // Batched here rather than by sonic-boom's `minLength`: it measures its whole buffer again for
  // every line written (a 4 KB string flattened per request, measured at ~40 µs at 3,000 req/s).
  let pending = '';
  let pendingBytes = 0;
  const writePending = () => {
    if (pendingBytes === 0) return;
    const batch = pending;
    pending = '';
    pendingBytes = 0;
    destination.write(batch);
  };
  const timer = setInterval(writePending, flushMs).unref();
  const log: AccessLog = {
    enabled,
    write(fields) {
      const line = jsonLine(fields, now());
      const bytes = Buffer.byteLength(line);
      if (pendingBytes + bytes > BATCH_BYTES) writePending();
      pending += line;
      pendingBytes += bytes;
    },
    close() {
      clearInterval(timer);
      process.off('exit', writePending);
      writePending();
    },
  };
  // A crash or process.exit() still writes what is held ('exit' allows synchronous work only: so is this write).
  process.on('exit', writePending);
  return log;
}

/** At most PIPE_BUF: one write of whole lines that a pipe never interleaves with another writer's. */
const BATCH_BYTES = 4096;

/** Lines through a given pino logger (an embedding application's, or a test's). */
export function accessLogThrough(logger: Logger): AccessLog {
  return {
    enabled: logger.isLevelEnabled('info'),
    write(fields) {
      if (fields.status >= 500) logger.warn(fields, 'request failed');
      else logger.info(fields, 'request completed');
    },
    close() {},
  };
}

/**
 * The ISO time, formatted once per millisecond: a busy gateway ends several requests in the same
 * one (measured: 1.0–1.2 µs per line for a Date and toISOString, 0.1 µs cached). One per log.
 */
function isoClock(): () => string {
  let isoMs = 0;
  let iso = '';
  return () => {
    const now = Date.now();
    if (now !== isoMs) {
      isoMs = now;
      iso = new Date(now).toISOString();
    }
    return iso;
  };
}

/** pino's JSON line for `info`/`warn(fields, msg)` with `base: { service: 'portico' }` and ISO times. */
export function jsonLine(f: AccessFields, time = new Date().toISOString()): string {
  const failed = f.status >= 500;
  let line = `{"level":${failed ? 40 : 30},"time":"${time}","service":"portico"`;
  for (const key of FIELDS) {
    const v = f[key];
    if (v === undefined) continue;
    line += `,"${key}":${typeof v === 'string' ? JSON.stringify(v) : v}`;
  }
  return `${line},"msg":"${failed ? 'request failed' : 'request completed'}"}\n`;
}
