import { statSync } from 'node:fs';

/** Far above any real routes.yaml (the admin API takes 1 MB): a bigger file is a mistake. */
export const MAX_CONFIG_BYTES = 16 * 1024 * 1024;

/**
 * Why `file` cannot be a routes.yaml to read, or undefined: not a regular file (a FIFO would block
 * the synchronous read until a writer comes, for ever — `portico validate`, a start, a reload and
 * the watcher all read synchronously; /dev/zero never ends), or larger than MAX_CONFIG_BYTES. A
 * missing file is left to the reader's own message.
 */
export function configFileKindProblem(file: string): string | undefined {
  let s: ReturnType<typeof statSync>;
  try {
    s = statSync(file);
  } catch {
    return undefined;
  }
  if (!s.isFile()) return 'cannot read the file: not a regular file (a FIFO, a device or a folder)';
  if (s.size > MAX_CONFIG_BYTES)
    return `cannot read the file: ${s.size} bytes, more than a routes.yaml may have (${MAX_CONFIG_BYTES})`;
  return undefined;
}
