// Runs every suite under test/ with Node's own test runner (the runner CI recognises).
// `npm test -- --only-files test/proxy` style filters: pass folders or files as arguments.
import { spawnSync } from 'node:child_process';
import { globSync } from 'node:fs';

const args = process.argv.slice(2);
const patterns =
  args.length > 0
    ? args.map((a) => (a.endsWith('.ts') ? a : `${a.replace(/\/$/, '')}/**/*.test.ts`))
    : ['test/**/*.test.ts'];
const files = patterns.flatMap((p) => globSync(p)).sort();
if (files.length === 0) {
  console.error(`no test files match ${patterns.join(' ')}`);
  process.exit(1);
}
const r = spawnSync(
  process.execPath,
  [
    '--test',
    '--test-reporter=spec',
    `--test-concurrency=${process.env.PORTICO_TEST_CONCURRENCY ?? '2'}`,
    '--test-timeout=120000',
    ...files,
  ],
  { stdio: 'inherit' },
);
process.exit(r.status ?? 1);
