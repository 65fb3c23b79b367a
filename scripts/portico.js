#!/usr/bin/env node
// The `portico` command. Portico is TypeScript run natively by Node 24; when an older system
// node starts this shim, it hands over to the Node 24 pinned in node_modules.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  const root = dirname(dirname(fileURLToPath(import.meta.url)));
  const pinned = join(root, 'node_modules', 'node', 'bin', 'node');
  if (!existsSync(pinned)) {
    console.error(`portico needs Node.js 24 or newer (this is ${process.version}); run npm ci first.`);
    process.exit(1);
  }
  const r = spawnSync(pinned, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: 'inherit',
  });
  process.exit(r.status ?? 1);
}
const { main } = await import('../gateway/cli.ts');
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    console.error(`portico: ${err?.stack ?? err}`);
    process.exit(1);
  },
);
