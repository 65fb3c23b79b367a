import { createHash, randomBytes } from 'node:crypto';
import type { Stats } from 'node:fs';
import { link, open, readFile, rename, stat, unlink, utimes } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { AdminError } from './adminErrors.ts';
import { readOnlyError, readRegularFile } from './replaceConfigFile.ts';

/** A lock older than this was left by a process that died mid-deploy: taken over. */
const STALE_MS = 30_000;
/** A holder touches its lock this often, so a deploy that is alive is never judged stale. */
const REFRESH_MS = STALE_MS / 3;

const busy = () =>
  new AdminError('PORTICO_ERR_CONFLICT', 'Another deploy of this file is in progress. Retry in a moment.');
const code = (err: unknown) => (err as NodeJS.ErrnoException).code;

/**
 * Runs a deploy of `file` while holding `.routes.yaml.lock` beside it (created exclusively), and
 * hands it the ETag of the file as it is on disk now. Workers of `--workers` and gateways sharing
 * one file each hold their own config in memory: the lock and the file on disk are what they share,
 * so two deploys with the same If-Match can never both win.
 *
 * The lock holds its holder's random token. A holder refreshes its mtime while it works and, done,
 * removes it only if it still holds its token (a holder judged dead must not remove the lock of
 * the deploy that took over). A lock not refreshed for STALE_MS (its process died) is taken over
 * under a second exclusive file (takeOverStale): removing it by name, as every contender that had
 * judged it stale did, let a late one remove the lock an earlier one had just created, and both
 * deploys ran.
 */
export async function withDeployLock<T>(file: string, fn: (diskEtag: string) => Promise<T>): Promise<T> {
  const lock = join(dirname(file), `.${basename(file)}.lock`);
  const token = randomBytes(16).toString('hex');
  const take = async () => {
    const fd = await open(lock, 'wx');
    try {
      await fd.writeFile(token);
    } finally {
      await fd.close();
    }
  };
  try {
    await take();
  } catch (err) {
    if (code(err) !== 'EEXIST') throw readOnlyError(err, file);
    await takeOverStale(lock, token);
    await take().catch((e: unknown) => {
      throw code(e) === 'EEXIST' ? busy() : e;
    });
  }
  const holds = () =>
    readFile(lock, 'utf8').then(
      (t) => t === token,
      () => false,
    );
  const refresh = setInterval(() => {
    void holds()
      .then(async (mine) => {
        if (!mine) return;
        const now = new Date();
        await utimes(lock, now, now);
      })
      .catch(() => {});
  }, REFRESH_MS);
  refresh.unref();
  try {
    const onDisk = (await readRegularFile(file)).toString('utf8');
    return await fn(`"${createHash('sha256').update(onDisk).digest('hex')}"`);
  } finally {
    clearInterval(refresh);
    // Only its own: a lock taken over (this deploy was judged dead) is the new holder's.
    if (await holds()) await unlink(lock).catch(() => {});
  }
}

/**
 * Removes `lock` if it is stale; else throws 409. Only the holder of `<lock>.takeover` (created
 * exclusively) removes a stale lock, after checking under it that the lock is still the very file
 * judged stale: contenders that judged the same lock stale cannot each remove it (the second would
 * remove the lock the first had just created).
 */
async function takeOverStale(lock: string, token: string): Promise<void> {
  const judged = await stat(lock).catch(() => undefined);
  if (!judged) return; // released meanwhile: the caller tries to create it
  if (Date.now() - judged.mtimeMs < STALE_MS) throw busy();
  const guard = `${lock}.takeover`;
  const enter = () => open(guard, 'wx').then((fd) => fd.close());
  try {
    await enter();
  } catch (err) {
    if (code(err) !== 'EEXIST') throw err;
    // A takeover is a few file operations: one older than the stale age died halfway.
    await removeIfStale(guard, token);
    await enter().catch((e: unknown) => {
      throw code(e) === 'EEXIST' ? busy() : e;
    });
  }
  try {
    const now = await stat(lock).catch(() => undefined);
    if (now && !sameFile(now, judged)) throw busy(); // taken over and held by another
    if (now) await unlink(lock).catch(() => {});
  } finally {
    await unlink(guard).catch(() => {});
  }
}

const sameFile = (a: Stats, b: Stats) => a.ino === b.ino && a.dev === b.dev && a.mtimeMs === b.mtimeMs;

/** Removes a stale takeover guard: moved aside, checked to be the file judged, put back if not. */
async function removeIfStale(guard: string, token: string): Promise<void> {
  const judged = await stat(guard).catch(() => undefined);
  if (!judged) return;
  if (Date.now() - judged.mtimeMs < STALE_MS) throw busy();
  const aside = `${guard}.stale-${token}`;
  try {
    await rename(guard, aside);
  } catch (err) {
    if (code(err) === 'ENOENT') throw busy(); // another contender moved it first
    throw err;
  }
  const moved = await stat(aside);
  if (!sameFile(moved, judged)) {
    // Another contender's fresh guard: put back untouched.
    await link(aside, guard).catch(() => {});
    await unlink(aside).catch(() => {});
    throw busy();
  }
  await unlink(aside).catch(() => {});
}
