import { statSync } from 'node:fs';
import { ConfigError } from '../config/loadConfig.ts';

/** Far above any real routes.yaml (the admin API takes 1 MB): a bigger file is a mistake. */
export const MAX_CONFIG_BYTES = 16 * 1024 * 1024;

/**
 * Throws the ConfigError the commands print when `file` cannot be a routes.yaml to read: not a
 * regular file (a FIFO would block the synchronous read until a writer comes, for ever; /dev/zero
 * never ends), or larger than MAX_CONFIG_BYTES. A missing file is left to the loader's own message.
 */
export function assertConfigFileKind(file: string): void {
  let s: ReturnType<typeof statSync>;
  try {
    s = statSync(file);
  } catch {
    return;
  }
  const problem = !s.isFile()
    ? 'cannot read the file: not a regular file (a FIFO, a device or a folder)'
    : s.size > MAX_CONFIG_BYTES
      ? `cannot read the file: ${s.size} bytes, more than a routes.yaml may have (${MAX_CONFIG_BYTES})`
      : undefined;
  if (problem) throw new ConfigError(file, [{ path: '', message: problem }]);
}
