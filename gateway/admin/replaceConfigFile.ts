import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import {
  copyFile,
  lstat,
  lutimes,
  open,
  readdir,
  readlink,
  realpath,
  rename,
  unlink,
} from 'node:fs/promises';
import { basename, dirname, join, sep } from 'node:path';
import type { ConfigError } from '../config/loadConfig.ts';
import type { Config } from '../config/types.ts';
import { AdminError } from './adminErrors.ts';

export type ReplaceResult =
  | { ok: true; config: Config; backup: string | undefined; restartNeeded: string[] }
  | { ok: false; error: ConfigError };

type Reload = () => { ok: true; config: Config; restartNeeded: string[] } | { ok: false; error: ConfigError };

/** The kubelet's atomic writer: `routes.yaml -> ..data/routes.yaml`, `..data -> ..2025_01_02_…`. */
const KUBELET_DIR = /^\.\.(data|\d{4}_\d\d_\d\d_)/;
/** What a failed write says when the file system, not Portico, refuses it. */
const READ_ONLY = new Set(['EROFS', 'EACCES', 'EPERM']);

/**
 * Where a deploy of `file` writes: the file itself, or, when routes.yaml is a symlink (to a
 * checkout, say), its target, so the link the admin made stays. Refused with 409 (nothing
 * touched): a Kubernetes ConfigMap or Secret mount (read-only, and the kubelet would put its own
 * copy back), and anything that is not a regular file (a FIFO would leave the read waiting for a
 * writer forever, holding the deploy lock and a thread of the pool).
 */
export async function configTarget(file: string): Promise<string> {
  const name = basename(file);
  if ((await lstat(file)).isSymbolicLink()) {
    const through = [...(await readlink(file)).split(sep), ...(await realpath(file)).split(sep)];
    if (through.some((part) => KUBELET_DIR.test(part)))
      throw new AdminError(
        'PORTICO_ERR_CONFLICT',
        `${name} is mounted from a Kubernetes ConfigMap or Secret (a link through ..data): it is read-only and the kubelet rewrites it. Change the ConfigMap instead (kubectl apply); the gateway reloads when Kubernetes updates the file.`,
      );
  }
  const target = await realpath(file);
  await readRegularFile(target);
  return target;
}

/**
 * Reads a regular file without ever waiting on it: opened non-blocking and checked before it is
 * read, so a FIFO (or a device) answers 409 at once instead of blocking until a writer comes.
 */
export async function readRegularFile(path: string): Promise<Buffer> {
  const fd = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    if (!(await fd.stat()).isFile())
      throw new AdminError(
        'PORTICO_ERR_CONFLICT',
        `${basename(path)} is not a regular file (a FIFO, a device or a folder): the admin API replaces only a regular file.`,
      );
    return await fd.readFile();
  } finally {
    await fd.close();
  }
}

/** A write the file system refused as read-only or forbidden: 409 with what to do, not a 500. */
export function readOnlyError(err: unknown, file: string): unknown {
  const code = (err as NodeJS.ErrnoException).code;
  if (!code || !READ_ONLY.has(code)) return err;
  return new AdminError(
    'PORTICO_ERR_CONFLICT',
    `${basename(file)} cannot be written here (${code}: a read-only mount, or the gateway's user may not write its folder). Change it where it comes from, or mount it writable.`,
    { cause: err },
  );
}

/** `2025-01-02T03-04-05-678Z`: sorts by time and is a valid file name everywhere. */
const backupStamp = () => new Date().toISOString().replace(/[:.]/g, '-');

async function fsyncPath(path: string, flags = 'r'): Promise<void> {
  const fd = await open(path, flags);
  try {
    await fd.sync();
  } finally {
    await fd.close();
  }
}

/** Writes `data` to a temporary file beside `file` (same mode), flushed to disk, and renames it over `file`. */
async function writeAtomically(file: string, data: string | Buffer, mode: number): Promise<void> {
  const tmp = join(dirname(file), `.${basename(file)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const fd = await open(tmp, 'wx', mode);
  try {
    await fd.writeFile(data);
    await fd.sync();
  } finally {
    await fd.close();
  }
  try {
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  // The rename itself is durable once the folder is flushed.
  await fsyncPath(dirname(file)).catch(() => {});
}

/**
 * Replaces routes.yaml with `text` (already validated by the caller): temp file + fsync, a
 * backup `routes.yaml.bak-<time>` of the previous file (the last `keep` are kept), an atomic
 * rename, then a reload. If the reload refuses the new file (the gateway's own environment can
 * differ from the validator's), the previous file is put back, the backup removed, and the
 * gateway keeps serving what it served: nothing changed.
 */
export async function replaceConfigFile(
  file: string,
  text: string,
  reload: Reload,
  keep: number,
): Promise<ReplaceResult> {
  try {
    return await replaceTarget(file, await configTarget(file), text, reload, keep);
  } catch (err) {
    throw readOnlyError(err, file);
  }
}

/** replaceConfigFile of `target`, the file `file` is or links to. */
async function replaceTarget(
  file: string,
  target: string,
  text: string,
  reload: Reload,
  keep: number,
): Promise<ReplaceResult> {
  const previous = await readRegularFile(target);
  const mode = (await lstat(target)).mode & 0o777;
  // Through a symlink the file written is in another folder, which the watchers (of every worker)
  // do not see: the link's own time is touched, an event in the folder they watch.
  const written = async () => {
    if (target === file) return;
    const now = new Date();
    await lutimes(file, now, now).catch(() => {});
  };
  let backup: string | undefined;
  if (keep > 0) {
    const stem = `${target}.bak-${backupStamp()}`;
    for (let i = 0; !backup; i++) {
      const candidate = i === 0 ? stem : `${stem}-${i}`;
      try {
        await copyFile(target, candidate, constants.COPYFILE_EXCL);
        backup = candidate;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || i > 100) throw err;
      }
    }
    await fsyncPath(backup);
  }
  await writeAtomically(target, text, mode);
  await written();
  const result = reload();
  if (!result.ok) {
    await writeAtomically(target, previous, mode);
    await written();
    if (backup) await unlink(backup).catch(() => {});
    reload();
    return { ok: false, error: result.error };
  }
  if (backup) await pruneBackups(target, keep);
  return {
    ok: true,
    config: result.config,
    backup: backup && basename(backup),
    restartNeeded: result.restartNeeded,
  };
}

async function pruneBackups(file: string, keep: number): Promise<void> {
  const prefix = `${basename(file)}.bak-`;
  const backups = (await readdir(dirname(file))).filter((n) => n.startsWith(prefix)).sort();
  for (const name of backups.slice(0, Math.max(0, backups.length - keep)))
    await unlink(join(dirname(file), name)).catch(() => {});
}
