import { randomBytes } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
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
};

export type AuditArchive = {
  /** Seals what is journaled and uploads every spooled batch now. */
  flush(): Promise<void>;
  /** Stops listening, then flushes; what cannot be uploaded stays spooled for the next start. */
  close(): Promise<void>;
  stats(): AuditArchiveStats;
};

const JOURNAL = 'current.jsonl';
const BATCH_RE = /^(\d{4})(\d{2})(\d{2})T\d{9}Z-[0-9a-f]{8}\.jsonl$/;

/** `20250102T030405678Z`: sorts by time, safe in file names and object keys. */
function stamp(d: Date): string {
  return d.toISOString().replace(/[-:.]/g, '');
}

/**
 * Archives the gateway's `audit` and `login` events to object storage as gzip'd JSON-lines objects,
 * `audit/YYYY/MM/DD/<time>-<random>.jsonl.gz`. Every event is appended to a journal file first
 * (so a crash loses nothing), the journal is sealed into a batch every `intervalMs` or
 * `maxEvents`, and a batch file is deleted only after the store has it. A batch keeps its name
 * across retries, so a retried upload overwrites rather than duplicates. Uploads that fail are
 * retried with a growing pause (the SDK also retries each call).
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
    try {
      appendFileSync(journal, `${line}\n`);
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
      await writeFileAtomic(`${file}.gz`, await gzipAsync(await readFile(file)));
      await unlink(file);
    }
  };

  const upload = async (names: string[]) => {
    for (const name of names) {
      const [, y, m, d] = BATCH_RE.exec(name.slice(0, -3))!;
      const body = await readFile(join(o.spoolDir, name));
      await o.store().put(`${prefix}${y}/${m}/${d}/${name}`, body, { contentType: 'application/gzip' });
      await unlink(join(o.spoolDir, name));
      spooled--;
      uploaded++;
      lastUploadAt = new Date().toISOString();
    }
  };

  const run = async (force: boolean) => {
    seal();
    await compress(await readdir(o.spoolDir));
    const batches = (await readdir(o.spoolDir)).filter((n) => n.endsWith('.jsonl.gz')).sort();
    spooled = batches.length;
    if (batches.length === 0 || (!force && Date.now() < nextAttemptAt)) return;
    try {
      await upload(batches);
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
    stats: () => ({ buffered, spooled, uploaded, lastUploadAt, lastError }),
  };
}
