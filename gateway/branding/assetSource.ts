import { type FSWatcher, readFileSync, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

/**
 * Where brand.yaml and the brand's files come from. Disk is the default; an S3-compatible bucket
 * only has to implement `get` (and `watch` if it can tell when objects change).
 */
export type BrandAssetSource = {
  /** Names the source in logs and error messages (a folder, a bucket URL). */
  readonly label: string;
  /**
   * The file's bytes, or undefined when there is no such file. `name` is a plain file name.
   * `visitor`: asked for by a page (any name anyone requests), not by the brand: a name the source
   * does not have is then not watched for.
   */
  get(name: string, o?: { visitor?: boolean }): Promise<Buffer | undefined>;
  /** Calls `onChange` when files may have changed; returns a function that stops watching. */
  watch?(onChange: () => void, onError?: (err: Error) => void): () => void;
};

/** A plain file name: no folders, no dot files, nothing a path could be built from. */
export const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export function isFileName(name: string): boolean {
  return FILE_NAME.test(name) && !name.includes('..');
}

export type DiskAssetSource = BrandAssetSource & {
  readonly dir: string;
  /** Synchronous read, so the gateway can refuse to start on a broken brand like on a broken routes.yaml. */
  getSync(name: string): Buffer | undefined;
};

export function diskAssetSource(dir: string): DiskAssetSource {
  const root = resolve(dir);
  const path = (name: string) => (isFileName(name) ? join(root, name) : undefined);
  return {
    label: root,
    dir: root,
    async get(name) {
      const p = path(name);
      if (!p) return undefined;
      try {
        return await readFile(p);
      } catch (err) {
        if (isMissing(err)) return undefined;
        throw err;
      }
    },
    getSync(name) {
      const p = path(name);
      if (!p) return undefined;
      try {
        return readFileSync(p);
      } catch (err) {
        if (isMissing(err)) return undefined;
        throw err;
      }
    },
    watch(onChange, onError) {
      // The folder, not a file: editors and ConfigMaps replace files by renaming (as server.ts does).
      let timer: NodeJS.Timeout | undefined;
      const watcher: FSWatcher = watch(root, () => {
        clearTimeout(timer);
        timer = setTimeout(onChange, 150);
      });
      watcher.on('error', (err) => onError?.(err));
      return () => {
        clearTimeout(timer);
        watcher.close();
      };
    },
  };
}

function isMissing(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR';
}
