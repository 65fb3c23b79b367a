// `npm run docs:config`: writes docs/configuration.md from the schemas and their descriptions
// (gateway/config/configDocs.ts, gateway/branding/brandDocs.ts). test/reference/ fails when the
// committed file is stale.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { configReference } from './reference/configReference.ts';

const file = join(import.meta.dirname, '..', 'docs', 'configuration.md');
writeFileSync(file, configReference());
process.stdout.write('wrote docs/configuration.md\n');
