import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

/** A PEM given inline in routes.yaml, or the contents of the file it names (relative to routes.yaml). */
export function pemOrFile(baseDir: string, value: string): string | Buffer {
  return value.includes('-----BEGIN') ? value : readFileSync(resolve(baseDir, value));
}
