import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readdirSync, renameSync, statSync } from 'node:fs';
import { readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import type { EventBus } from '../events.ts';
import { writeFileAtomic } from './brandAssets.ts';
import type { ObjectStore } from './objectStore.ts';

const gzipAsync = (data: Buffer) => promisify(process.getBuiltinModule('node:zlib').gzip)(data);

export type AuditArchiveOptions = {
  /** The gateway's events: audit and login events are archived. */
  events: EventBus;
  /** The store batches go to; a function so a reloaded `storage:` takes effect. */
  store: () => ObjectStore;
  /** Events are journaled here before anything else happens to them; survives restarts. */
  spoolDir: string;
  /** A batch is sealed and uploaded this often (default 60 s)… */
  intervalMs?: number;
  /** …or as soon as it holds this many events (default 1000). */
  maxEvents?: number;
  /** Key prefix inside the store (default `audit/`). */
  prefix?: string;
  /**
   * The spool's size on disk at most, in bytes (default 256 MiB; 0: no bound). Past it, new events
   * are dropped and counted, never the spooled ones: failed sign-ins first (at 15/16 of it), then
   * every event. The gap is logged and, once there is room again, recorded in the archive itself.
   */
  maxSpoolBytes?: number;
  log?: Logger;
};

export type AuditArchiveStats = {
  /** Events journaled but not yet sealed into a batch. */
  buffered: number;
  /** Sealed batches waiting for upload. */
  spooled: number;
  uploaded: number;
  lastUploadAt: string | undefined;
  lastError: string | undefined;
  /** Bytes in the spool folder (journal and batches). */
  spoolBytes: number;
  /** The bound (0: none). */
  maxSpoolBytes: number;
  /** New events are being dropped: the spool is at its bound. */
  spoolFull: boolean;
  /** Events dropped for want of room since the start. */
  dropped: number;
};

export type AuditArchive = {
  /** Seals what is journaled and uploads every spooled batch now. */
  flush(): Promise<void>;
  /** Stops listening, then flushes; what cannot be uploaded stays spooled for the next start. */
  close(): Promise<void>;
  stats(): AuditArchiveStats;
};

const JOURNAL = 'current.jsonl';
const DEFAULT_MAX_SPOOL_BYTES = 256 * 1024 ** 2;
const BATCH_RE = /^(\d{4})(\d{2})(\d{2})T\d{9}Z-[0-9a-f]{8}\.jsonl$/;

/** `20250102T030405678Z`: sorts by time, safe in file names and object keys. */
function stamp(d: Date): string {
  return d.toISOString().replace(/[-:.]/g, '');
}

/** Bytes of the files in the spool folder (a file gone meanwhile counts 0). */
function folderBytes(dir: string): number {
  let total = 0;
  for (const name of readdirSync(dir)) {
    try {
      total += statSync(join(dir, name)).size;
    } catch {}
  }
  return total;
}

/**
 * Archives the gateway's `audit` and `login` events to object storage as gzip'd JSON-lines objects,
 * `audit/YYYY/MM/DD/<time>-<random>.jsonl.gz`. Every event is appended to a journal file first
 * (so a crash loses nothing), the journal is sealed into a batch every `intervalMs` or
 * `maxEvents`, and a batch file is deleted only after the store has it. A batch keeps its name
 * across retries, so a retried upload overwrites rather than duplicates. Uploads that fail are
 * retried with a growing pause (the SDK also retries each call).
 *
 * While the store cannot be reached the spool grows, by anonymous failed sign-ins too, so it is
 * bounded (`maxSpoolBytes`). At the bound the newest events are dropped, never spooled ones: what
 * is spooled was promised to the archive, and dropping the oldest would let a flood of failed
 * sign-ins push the record of earlier actions (an admin change, a sign-in) out of it. Failed
 * sign-ins are refused first, 1/16 of the bound before the rest, so admin changes and sign-ins still
 * find room while a spray fills the spool. Dropping is logged at once (error) and at every pass
 * while it lasts; when there is room again (the store took the batches), one
 * `audit.events_dropped` line with the count and the times goes into the archive where the gap is.
 */
export function startAuditArchive(o: AuditArchiveOptions): AuditArchive {
  const intervalMs = o.intervalMs ?? 60_000;
  const maxEvents = o.maxEvents ?? 1000;
  const prefix = o.prefix ?? 'audit/';
  const journal = join(o.spoolDir, JOURNAL);
  mkdirSync(o.spoolDir, { recursive: true });

  let buffered = existsSync(journal) && statSync(journal).size > 0 ? 1 : 0;
  let uploaded = 0;
  let spooled = 0;
  let lastUploadAt: string | undefined;
  let lastError: string | undefined;
  let failures = 0;
  let nextAttemptAt = 0;
  let chain: Promise<void> = Promise.resolve();
  let flushQueued = false;
  let closed = false;
  let lastSealMs = 0;
  const limit = o.maxSpoolBytes ?? DEFAULT_MAX_SPOOL_BYTES;
  const reserve = Math.floor(limit / 16);
  let spoolBytes = folderBytes(o.spoolDir);
  let dropped = 0;
  let droppedTotal = 0;
  let droppedSince: string | undefined;
  let droppedOthers = false;

  const append = (line: string) => {
    appendFileSync(journal, `${line}\n`);
    spoolBytes += Buffer.byteLength(line) + 1;
  };
  const full = () => ({ spoolBytes, maxSpoolBytes: limit, spoolDir: o.spoolDir });
  /** What the metrics show of the spool (portico_audit_spool_bytes, …_events_dropped_total). */
  const report = () => {
    if (o.events.has('auditSpool'))
      o.events.emit('auditSpool', {
        spoolBytes,
        maxSpoolBytes: limit,
        full: droppedSince !== undefined,
        dropped: droppedTotal,
      });
  };
  const drop = (time: string, floodable: boolean) => {
    dropped++;
    droppedTotal++;
    if (droppedSince === undefined) {
      droppedSince = time;
      report();
      o.log?.error(
        full(),
        'audit spool full (storage.auditArchive.maxSpoolSize) while the bucket does not take batches: new failed sign-ins are dropped, spooled events are kept',
      );
    }
    if (!floodable && !droppedOthers) {
      droppedOthers = true;
      o.log?.error(
        full(),
        'audit spool full: every new audit event is dropped now, not only failed sign-ins',
      );
    }
  };
  /** Room again: the gap goes into the archive where it is, and into the log. */
  const endDropping = (time: string) => {
    const gap = { count: dropped, from: droppedSince, to: time };
    append(JSON.stringify({ time, channel: 'archive', type: 'audit.events_dropped', ...gap }));
    buffered++;
    o.log?.warn(
      { ...gap, spoolBytes },
      'audit spool has room again; the dropped events are counted in the archive',
    );
    dropped = 0;
    droppedSince = undefined;
    droppedOthers = false;
    report();
  };

  const record = (channel: string) => (message: unknown) => {
    if (closed) return;
    const time = new Date().toISOString();
    let line: string;
    try {
      line = JSON.stringify({ time, channel, ...(message as object) });
    } catch {
      line = JSON.stringify({
        time,
        channel,
        type: (message as { type?: unknown })?.type,
        unserializable: true,
      });
    }
    if (limit > 0) {
      // Anyone can add failed sign-ins (and wrong admin keys): they are refused first, and after a
      // refusal taken again only 1/16 below that, so they never take the room kept for the others.
      const bytes = Buffer.byteLength(line) + 1;
      const m = message as { result?: unknown; type?: unknown } | undefined;
      const floodable = channel === 'login' ? m?.result !== 'success' : m?.type === 'admin.auth_failure';
      const resumes = spoolBytes + bytes + 256 <= limit - 2 * reserve;
      if (droppedSince !== undefined && floodable && !resumes) return drop(time, floodable);
      if (spoolBytes + bytes > (floodable ? limit - reserve : limit)) return drop(time, floodable);
      if (droppedSince !== undefined && resumes) {
        try {
          endDropping(time);
        } catch (err) {
          o.log?.error({ err }, 'audit journal write failed');
        }
      }
    }
    try {
      append(line);
    } catch (err) {
      o.log?.error({ err, channel }, 'audit journal write failed, event lost');
      return;
    }
    if (++buffered >= maxEvents) {
      seal();
      if (flushQueued) return;
      flushQueued = true;
      setImmediate(() => {
        flushQueued = false;
        void serial(() => run(true));
      });
    }
  };
  const onAudit = record('audit');
  const onLogin = record('login');
  const stopAudit = o.events.on('audit', onAudit);
  const stopLogin = o.events.on('login', onLogin);

  /** Journal → `<time>-<random>.jsonl` (a rename, so appends after it start a new journal). */
  const seal = () => {
    if (buffered === 0) return;
    buffered = 0;
    try {
      // Batch names sort in the order they were sealed, even within one millisecond.
      lastSealMs = Math.max(Date.now(), lastSealMs + 1);
      renameSync(
        journal,
        join(o.spoolDir, `${stamp(new Date(lastSealMs))}-${randomBytes(4).toString('hex')}.jsonl`),
      );
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  };

  /** Sealed `.jsonl` → `.jsonl.gz`; also finishes batches a crash left uncompressed. */
  const compress = async (names: string[]) => {
    for (const name of names.filter((n) => BATCH_RE.test(n))) {
      const file = join(o.spoolDir, name);
      const raw = await readFile(file);
      const gz = await gzipAsync(raw);
      await writeFileAtomic(`${file}.gz`, gz);
      await unlink(file);
      spoolBytes += gz.length - raw.length;
    }
  };

  const upload = async (names: string[]) => {
    for (const name of names) {
      const [, y, m, d] = BATCH_RE.exec(name.slice(0, -3))!;
      const body = await readFile(join(o.spoolDir, name));
      await o.store().put(`${prefix}${y}/${m}/${d}/${name}`, body, { contentType: 'application/gzip' });
      await unlink(join(o.spoolDir, name));
      spoolBytes -= body.length;
      spooled--;
      uploaded++;
      lastUploadAt = new Date().toISOString();
    }
  };

  const run = async (force: boolean) => {
    try {
      await pass(force);
    } finally {
      report();
    }
  };
  const pass = async (force: boolean) => {
    seal();
    await compress(await readdir(o.spoolDir));
    const batches = (await readdir(o.spoolDir)).filter((n) => n.endsWith('.jsonl.gz')).sort();
    spooled = batches.length;
    if (droppedSince !== undefined)
      o.log?.error(
        { ...full(), dropped, since: droppedSince },
        'audit spool still full: new events are dropped',
      );
    if (batches.length === 0 || (!force && Date.now() < nextAttemptAt)) return;
    try {
      await upload(batches);
      // Emptied: measured again, so the count never drifts from what is on disk.
      spoolBytes = folderBytes(o.spoolDir);
      failures = 0;
      nextAttemptAt = 0;
      lastError = undefined;
    } catch (err) {
      failures++;
      lastError = (err as Error).message;
      const pause = Math.min(intervalMs * 2 ** (failures - 1), Math.max(intervalMs, 300_000));
      nextAttemptAt = Date.now() + pause;
      o.log?.warn(
        { err: lastError, spooled, retryInMs: pause },
        'audit archive upload failed, kept in the spool',
      );
    }
  };

  const serial = (fn: () => Promise<void>) => {
    const next = chain.then(fn).catch((err) => {
      lastError = (err as Error).message;
      o.log?.error({ err }, 'audit archive flush failed');
    });
    chain = next;
    return next;
  };

  const timer = setInterval(() => void serial(() => run(false)), intervalMs);
  timer.unref();
  // Batches a previous run could not upload go first.
  void serial(() => run(false));

  return {
    flush: () => serial(() => run(true)),
    async close() {
      closed = true;
      clearInterval(timer);
      stopAudit();
      stopLogin();
      await serial(() => run(true));
    },
    stats: () => ({
      buffered,
      spooled,
      uploaded,
      lastUploadAt,
      lastError,
      spoolBytes,
      maxSpoolBytes: limit,
      spoolFull: droppedSince !== undefined,
      dropped: droppedTotal,
    }),
  };
}
