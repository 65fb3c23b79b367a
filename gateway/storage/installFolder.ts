import { realpathSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';

/** Where Portico itself is installed (the folder holding gateway/, scripts/ and its default branding/). */
export const INSTALL_FOLDER = resolve(import.meta.dirname, '..', '..');

/**
 * True when `path`, with every link resolved, lies in Portico's own installation. Nothing an
 * operator uploads may land there: it is the software (tracked files, or a read-only image
 * layer), and the next upgrade would replace it anyway.
 */
export function insideInstallFolder(path: string): boolean {
  const root = realpathSync(INSTALL_FOLDER);
  const real = realpathOfNearest(resolve(path));
  return real === root || real.startsWith(root + sep);
}

/** The real path of `path`, or of its nearest existing parent with the rest appended. */
function realpathOfNearest(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    const parent = dirname(path);
    if (parent === path) return path;
    return join(realpathOfNearest(parent), path.slice(parent.length));
  }
}
