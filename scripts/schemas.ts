// `npm run schemas`: writes schemas/routes.schema.json and schemas/brand.schema.json, the JSON
// Schemas editors use for routes.yaml and brand.yaml (`# yaml-language-server: $schema=…` at the
// top of each shipped file). test/reference/ fails when the committed files are stale.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { schemaFiles } from './reference/schemaFiles.ts';

const root = join(import.meta.dirname, '..');
for (const [path, text] of Object.entries(schemaFiles())) {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text);
  process.stdout.write(`wrote ${path}\n`);
}
