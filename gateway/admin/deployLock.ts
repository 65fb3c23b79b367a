import { createHash } from 'node:crypto';
import { open, readFile, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { AdminError } from './adminErrors.ts';

/** A lock older than this was left by a process that died mid-deploy: taken over. */
const STALE_MS = 30_000;

/**
 * Runs a deploy of `file` while holding `.routes.yaml.lock` beside it (created exclusively), and
 * hands it the ETag of the file as it is on disk now. Workers of `--workers` and gateways sharing
 * one file each hold their own config in memory: the lock and the file on disk are what they share,
 * so two deploys with the same If-Match can never both win.
 */
export async function withDeployLock<T>(file: string, fn: (diskEtag: string) => Promise<T>): Promise<T> {
  const lock = join(dirname(file), `.${basename(file)}.lock`);
  const take = () => open(lock, 'wx').then((fd) => fd.close());
  try {
    await take();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    const age = await stat(lock).then(
      (s) => Date.now() - s.mtimeMs,
      () => 0,
    );
    if (age < STALE_MS)
      throw new AdminError(
        'PORTICO_ERR_CONFLICT',
        'Another deploy of this file is in progress. Retry in a moment.',
      );
    await unlink(lock).catch(() => {});
    await take().catch(() => {
      throw new AdminError(
        'PORTICO_ERR_CONFLICT',
        'Another deploy of this file is in progress. Retry in a moment.',
      );
    });
  }
  try {
    const onDisk = await readFile(file, 'utf8');
    return await fn(`"${createHash('sha256').update(onDisk).digest('hex')}"`);
  } finally {
    await unlink(lock).catch(() => {});
  }
}
