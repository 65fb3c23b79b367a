import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { copyFile, open, readdir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { ConfigError } from '../config/loadConfig.ts';
import type { Config } from '../config/types.ts';

export type ReplaceResult =
  | { ok: true; config: Config; backup: string | undefined; restartNeeded: string[] }
  | { ok: false; error: ConfigError };

type Reload = () => { ok: true; config: Config; restartNeeded: string[] } | { ok: false; error: ConfigError };

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
  const previous = await readFile(file);
  const mode = (await stat(file)).mode & 0o777;
  let backup: string | undefined;
  if (keep > 0) {
    const stem = `${file}.bak-${backupStamp()}`;
    for (let i = 0; !backup; i++) {
      const candidate = i === 0 ? stem : `${stem}-${i}`;
      try {
        await copyFile(file, candidate, constants.COPYFILE_EXCL);
        backup = candidate;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || i > 100) throw err;
      }
    }
    await fsyncPath(backup);
  }
  await writeAtomically(file, text, mode);
  const result = reload();
  if (!result.ok) {
    await writeAtomically(file, previous, mode);
    if (backup) await unlink(backup).catch(() => {});
    reload();
    return { ok: false, error: result.error };
  }
  if (backup) await pruneBackups(file, keep);
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
