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

/**
 * Where lines go. `writeNow`, when there is one, writes a batch before returning, after whatever
 * the destination still holds (for close and exit); without it `write` is taken to be synchronous.
 */
export type Destination = {
  write(batch: string): unknown;
  writeNow?(batch: string): void;
  /** The largest batch handed to `write` at once (whole lines); PIPE_BUF unless said. */
  batchBytes?: number;
};

/** At most PIPE_BUF: one write of whole lines that a pipe never interleaves with another writer's. */
const BATCH_BYTES = 4096;
/** A file's batch, as nginx's `access_log … buffer=64k`: a regular file takes a write whole. */
const FILE_BATCH_BYTES = 64 * 1024;
/** ~130,000 lines: minutes of a busy gateway's log. */
const MAX_WAITING_BYTES = 32 * 1024 * 1024;

/**
 * stdout, written asynchronously: sonic-boom on libuv's thread pool, whole batches of at most
 * BATCH_BYTES per write (it counts maxWrite in bytes, and retries EAGAIN and short writes). A
 * synchronous write held the event loop while the kernel took each batch, and under load requests
 * waited behind it: two alternating runs against fastify + reply-from put the asynchronous write
 * 0.10 of fastify's rate ahead (0.85 → 0.95×, 1.08 → 1.18×; without an access log 1.31× in the
 * second; BENCHMARKS.md). A slow log reader no longer stalls the gateway either: lines queue in
 * memory instead, up to 32 MB.
 */
export function stdoutDestination(): Destination {
  if (isLocalFileOrNull(1)) return fileDestination(1);
  const stdout = pino.destination({
    dest: 1,
    sync: false,
    minLength: 0,
    maxWrite: BATCH_BYTES,
    // A reader that never comes back must not grow the process without bound: past this many
    // bytes waiting, lines are dropped (nginx would block every request instead).
    maxLength: MAX_WAITING_BYTES,
  });
  stdout.on('drop', reportDropped());
  return {
    write: (batch) => stdout.write(batch),
    writeNow(batch) {
      try {
        // What the asynchronous writer still queues goes first; a batch it is writing now is not
        // waited for (at exit nothing can be), so it may land after these lines.
        stdout.flushSync();
        if (batch) pino.destination({ dest: 1, sync: true }).write(batch);
      } catch {
        // stdout is gone (closed by the reader): these lines cannot be written anywhere.
      }
    },
  };
}

/**
 * Filesystems whose writes can wait on a server: NFS, SMB/CIFS, FUSE, Ceph, 9P, AFS, Lustre,
 * GlusterFS (over FUSE). A file there keeps the asynchronous writer: a hard mount whose server is
 * gone would otherwise hold every request.
 */
const NETWORK_FILESYSTEMS = new Set([
  0x6969, 0x517b, 0xfe534d42, 0xff534d42, 0x65735546, 0x00c36400, 0x01021997, 0x5346414f, 0x0bd00bd0,
]);

/**
 * Whether `fd` is a regular file on a local filesystem, or /dev/null (a character device that is
 * not a terminal): a write there is a copy into the page cache that no reader can hold up, unlike
 * a pipe, a socket, a terminal or a network mount. A local disk that cannot keep up (writeback
 * throttled) slows the writes as it slows nginx's own access log.
 */
function isLocalFileOrNull(fd: number): boolean {
  try {
    const fs = process.getBuiltinModule('node:fs');
    const st = fs.fstatSync(fd);
    if (st.isCharacterDevice()) return !process.getBuiltinModule('node:tty').isatty(fd);
    return st.isFile() && !NETWORK_FILESYSTEMS.has(Number(fs.statfsSync(`/proc/self/fd/${fd}`).type));
  } catch {
    return false;
  }
}

/**
 * stdout redirected to a file (`portico serve >> access.log`, systemd's `StandardOutput=append:`):
 * batches of 64 KB written synchronously, as nginx writes its buffered access log. Handing each
 * 4 KB batch to libuv's thread pool cost more than the write itself: two thread wake-ups per
 * batch, each across cores on a busy machine; with nginx in front (forward-auth) Portico's checks
 * went from 0.64× to 0.79× of a no-op check's rate (0.83× without an access log; BENCHMARKS.md,
 * "Run of 09:43"). Lines that cannot be written (a full disk) are dropped and counted on stderr;
 * a pipe or a network mount keeps the asynchronous writer above, whose reader can be slow.
 */
function fileDestination(fd: number): Destination {
  const { writeSync } = process.getBuiltinModule('node:fs');
  const dropped = reportDropped('stdout (a file) refused the write: is the disk full?');
  // A batch cut short (the disk filled half-way) left a line without its end: the next batch
  // starts on a line of its own, so only the cut line is unreadable.
  let torn = false;
  const write = (batch: string) => {
    if (!batch) return;
    const bytes = Buffer.from(torn ? `\n${batch}` : batch);
    let at = 0;
    try {
      // A regular file takes a whole write unless the disk is full or a signal interrupts it.
      while (at < bytes.length) at += writeSync(fd, bytes, at);
      torn = false;
    } catch {
      if (at > 0) torn = true;
      // The lines not wholly written are the ones dropped.
      dropped(at === 0 ? batch : bytes.subarray(bytes.lastIndexOf(10, at - 1) + 1).toString());
    }
  };
  return { write, writeNow: write, batchBytes: FILE_BATCH_BYTES };
}

/**
 * Dropped access lines are said on stderr (stdout is the stream that stopped), at once and then at
 * most once a minute with the count since: an audit trail with holes must not look whole.
 */
function reportDropped(
  why = `stdout has not been read while ${MAX_WAITING_BYTES / 1048576} MB waited`,
): (batch: string) => void {
  let dropped = 0;
  let timer: NodeJS.Timeout | undefined;
  const report = () => {
    timer = undefined;
    if (dropped === 0) return;
    const line = JSON.stringify({
      level: 40,
      time: new Date().toISOString(),
      service: 'portico',
      dropped,
      msg: `access log: ${dropped} lines dropped, ${why}`,
    });
    dropped = 0;
    try {
      // Synchronous and caught: stderr may be the same full disk (`>> access.log 2>&1`), and an
      // unhandled error on process.stderr would end the process.
      process.getBuiltinModule('node:fs').writeSync(2, `${line}\n`);
    } catch {
      // Nowhere left to say it.
    }
    // What is dropped in the next minute is counted and said then.
    timer = setTimeout(report, 60_000).unref();
  };
  return (batch) => {
    for (let i = batch.indexOf('\n'); i !== -1; i = batch.indexOf('\n', i + 1)) dropped++;
    if (timer === undefined) report();
  };
}

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
 * Lines are held and written every `flushMs` (or once a batch is full), as nginx's
 * `access_log … buffer= flush=` and Envoy's file access log do: one write per line cost another
 * ~20 µs. To a pipe (a container's log driver) each write is at most 4096 bytes of whole lines, so
 * the pipe never interleaves them with another worker's or the operational log's lines, and
 * asynchronous (stdoutDestination); to a file, 64 KB written at once. What is held is written
 * synchronously on close and on exit; a SIGKILL loses at most `flushMs` and the batch being
 * written. `flushMs: 0` hands each line over at once.
 * The pretty form (a terminal) reads `GET /dce5/x → 200 in 3 ms`.
 */
export function createAccessLog(
  level: string,
  format: LogFormat | undefined,
  flushMs: number,
  /** Where lines go; stdout unless a test reads them. */
  destination: Destination = stdoutDestination(),
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
  const writeNow = (batch: string) =>
    destination.writeNow ? destination.writeNow(batch) : batch && destination.write(batch);
  if (flushMs <= 0) {
    const flush = () => writeNow('');
    process.on('exit', flush);
    return {
      enabled,
      write: (fields) => void destination.write(jsonLine(fields, now())),
      close() {
        process.off('exit', flush);
        flush();
      },
    };
  }
  // Batched here rather than by sonic-boom's `minLength`: it measures its whole buffer again for
  // every line written (a 4 KB string flattened per request, measured at ~40 µs at 3,000 req/s).
  const batchBytes = destination.batchBytes ?? BATCH_BYTES;
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
  const writeAllNow = () => {
    const batch = pending;
    pending = '';
    pendingBytes = 0;
    writeNow(batch);
  };
  const log: AccessLog = {
    enabled,
    write(fields) {
      const line = jsonLine(fields, now());
      const bytes = Buffer.byteLength(line);
      if (pendingBytes + bytes > batchBytes) writePending();
      pending += line;
      pendingBytes += bytes;
    },
    close() {
      clearInterval(timer);
      process.off('exit', writeAllNow);
      writeAllNow();
    },
  };
  // A crash or process.exit() still writes what is held ('exit' allows synchronous work only: so is this write).
  process.on('exit', writeAllNow);
  return log;
}

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
