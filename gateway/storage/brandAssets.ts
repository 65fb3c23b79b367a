import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { type BrandAssetSource, diskAssetSource, isFileName } from '../branding/assetSource.ts';
import { boundedCache } from '../store/boundedCache.ts';
import { insideInstallFolder } from './installFolder.ts';
import { type ObjectStore, StorageError } from './objectStore.ts';

/** A brand asset source the admin API can upload to. */
export type WritableBrandAssetSource = BrandAssetSource & {
  put(name: string, body: Buffer): Promise<{ etag: string }>;
};

const etagOf = (body: Buffer) => `"${createHash('sha256').update(body).digest('hex').slice(0, 32)}"`;

function checkedName(name: string): string {
  if (!isFileName(name)) throw new Error(`"${name}" is not a plain file name`);
  return name;
}

/** Writes next to the target and renames over it: readers never see half a file. */
export async function writeFileAtomic(file: string, data: Buffer | string): Promise<void> {
  const tmp = `${file}.tmp-${randomBytes(6).toString('hex')}`;
  await writeFile(tmp, data, { flush: true });
  try {
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
}

/** An upload that has no place to go: the folder is Portico's own, or cannot be written. */
export class NoUploadPlace extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NoUploadPlace';
  }
}

const WHERE_INSTEAD =
  'Put a branding/ folder with a brand.yaml beside routes.yaml, start with --branding <folder>, or configure storage: in routes.yaml.';

/**
 * The branding folder (the branding module's disk source), writable — unless it is part of
 * Portico's installation (its default brand, or a link to it), which uploads never touch.
 */
export function writableDiskAssets(dir: string): WritableBrandAssetSource {
  const disk = diskAssetSource(dir);
  return {
    ...disk,
    async put(name, body) {
      if (insideInstallFolder(disk.dir))
        throw new NoUploadPlace(
          `Uploads never go into Portico's own installation (its default branding folder). ${WHERE_INSTEAD}`,
        );
      try {
        await mkdir(disk.dir, { recursive: true });
        await writeFileAtomic(join(disk.dir, checkedName(name)), body);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS')
          throw new NoUploadPlace(`The branding folder cannot be written here (${code}). ${WHERE_INSTEAD}`, {
            cause: err,
          });
        throw err;
      }
      return { etag: etagOf(body) };
    },
  };
}

export type CachedBrandAssetsOptions = {
  /** The store to read through; a function so a reloaded `storage:` takes effect. */
  store: () => ObjectStore;
  /** Kept across restarts; serves when the store cannot be reached. */
  cacheDir: string;
  /** Key prefix inside the store (default `branding/`). */
  prefix?: string;
  /** How long a copy is served before the store is asked again (ETag revalidation); also the watch period. */
  refreshMs?: number;
  log?: Logger;
};

type Copy = { body: Buffer; etag: string };
type Cached = { copy: Copy | undefined; checkedAt: number };

/**
 * Brand files (brand.yaml, logo, favicon, CSS) in object storage, shared by every replica, read
 * through a disk cache. A copy is revalidated with its ETag after `refreshMs`; while the store is
 * down the last copy keeps serving, so the login page never loses its logo. `watch` tells the
 * branding module when a file changed: at once for uploads through this replica, within
 * `refreshMs` for uploads through another.
 */
export function cachedBrandAssets(o: CachedBrandAssetsOptions): WritableBrandAssetSource {
  const prefix = o.prefix ?? 'branding/';
  const refreshMs = o.refreshMs ?? 60_000;
  const dir = join(o.cacheDir, 'branding');
  // The files asked for by the brand (found or not: one uploaded later must reload it) and found
  // for visitors, revalidated every period. A visitor's miss is remembered apart, briefly and
  // boundedly: those names come from anonymous requests for /_portico/branding/<name>, and each
  // used to be asked about again every period, forever.
  const memory = new Map<string, Cached>();
  const missing = boundedCache<string, true>(1_000, { ttl: Math.max(refreshMs, 1_000) });
  const inFlight = new Map<string, Promise<Copy | undefined>>();
  // The bucket failing is remembered as a miss is: a visitor's name is then not asked about (each
  // ask is a retry cycle of the SDK) until `failFastMs` after the last failure, and then by one
  // request at a time, until the bucket answers (the brand's own files keep being revalidated).
  // Visitors' names are any name anyone types: without this each one cost a full retry cycle.
  const failFastMs = Math.min(Math.max(refreshMs, 1_000), 10_000);
  let failedAt: number | undefined;
  let probing = false;
  const watchers = new Set<() => void>();
  let ready: Promise<unknown> | undefined;
  const ensureDir = () => (ready ??= mkdir(dir, { recursive: true }));

  const readDisk = async (name: string): Promise<Copy | undefined> => {
    try {
      const [body, etag] = await Promise.all([
        readFile(join(dir, name)),
        readFile(join(dir, `${name}.etag`), 'utf8'),
      ]);
      return { body, etag: etag.trim() };
    } catch {
      return undefined;
    }
  };
  const writeDisk = async (name: string, copy: Copy) => {
    await ensureDir();
    await writeFileAtomic(join(dir, name), copy.body);
    await writeFileAtomic(join(dir, `${name}.etag`), copy.etag);
  };
  const dropDisk = async (name: string) => {
    await unlink(join(dir, `${name}.etag`)).catch(() => {});
    await unlink(join(dir, name)).catch(() => {});
  };
  const remember = (name: string, copy: Copy | undefined, visitor = false) => {
    if (copy === undefined && visitor && !memory.has(name)) {
      missing.set(name, true);
      return undefined;
    }
    memory.set(name, { copy, checkedAt: Date.now() });
    missing.delete(name);
    return copy;
  };

  /** Asks the store; answers the copy to serve. A store that cannot be reached keeps the last copy. */
  const refresh = async (name: string, visitor = false): Promise<Copy | undefined> => {
    const known = memory.has(name) ? memory.get(name)!.copy : await readDisk(name);
    let result: Awaited<ReturnType<ObjectStore['getIfChanged']>>;
    const probe = visitor && failedAt !== undefined;
    if (probe && (probing || Date.now() - failedAt! < failFastMs)) {
      if (known) return remember(name, known);
      throw new StorageError('get', prefix + name, {
        name: 'StorageUnavailable',
        message: 'the bucket failed moments ago; not asked again yet',
      });
    }
    if (probe) probing = true;
    try {
      result = await o.store().getIfChanged(prefix + name, known?.etag);
      failedAt = undefined;
    } catch (err) {
      failedAt = Date.now();
      if (!known) throw err;
      o.log?.warn(
        { err: (err as Error).message, asset: name },
        'storage unreachable, serving the cached copy',
      );
      return remember(name, known);
    } finally {
      if (probe) probing = false;
    }
    if (result === 'unchanged') return remember(name, known);
    if (result === undefined) {
      if (known) await dropDisk(name);
      return remember(name, undefined, visitor);
    }
    const copy = { body: result.body, etag: result.etag ?? etagOf(result.body) };
    await writeDisk(name, copy).catch((err) => o.log?.warn({ err, asset: name }, 'brand cache write failed'));
    return remember(name, copy);
  };
  const fetch = (name: string, visitor = false) => {
    let pending = inFlight.get(name);
    if (!pending) {
      pending = refresh(name, visitor).finally(() => inFlight.delete(name));
      inFlight.set(name, pending);
    }
    // The brand asking while a visitor's fetch runs: whatever it finds, the name is watched.
    if (visitor) return pending;
    return pending.then((copy) => {
      if (!memory.has(name)) remember(name, copy);
      return copy;
    });
  };

  return {
    label: `storage:${prefix}`,
    async get(name, o) {
      checkedName(name);
      const hit = memory.get(name);
      if (hit && Date.now() - hit.checkedAt < refreshMs) return hit.copy?.body;
      if (!hit && o?.visitor && missing.get(name)) return undefined;
      return (await fetch(name, o?.visitor))?.body;
    },
    async put(name, body) {
      checkedName(name);
      const { etag } = await o.store().put(prefix + name, body);
      const copy = { body, etag: etag ?? etagOf(body) };
      await writeDisk(name, copy);
      remember(name, copy);
      for (const w of watchers) w();
      return { etag: copy.etag };
    },
    watch(onChange, onError) {
      watchers.add(onChange);
      // Files served so far are revalidated every period; a changed ETag means a reload. The next
      // pass is armed when this one ends: a slow store never has two passes running at once.
      let timer: NodeJS.Timeout | undefined;
      let stopped = false;
      const pass = async () => {
        let changed = false;
        for (const [name, before] of [...memory]) {
          try {
            const after = await fetch(name);
            if (after?.etag !== before.copy?.etag) changed = true;
          } catch (err) {
            onError?.(err as Error);
          }
        }
        if (changed) onChange();
        if (!stopped) arm();
      };
      const arm = () => {
        timer = setTimeout(() => void pass(), Math.max(refreshMs, 100));
        timer.unref();
      };
      arm();
      return () => {
        stopped = true;
        clearTimeout(timer);
        watchers.delete(onChange);
      };
    },
  };
}
