// `portico explain` runs where an admin works, often with the serving environment loaded: values
// of ${VAR} it interpolated (a bearer token a route sends its upstream) must never be printed.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const TOKEN = 'tok-9f8e7d6c5b4a3210';
const API_KEY = 'key-0123456789abcdef';

describe('portico explain and secrets', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portico-explain-secrets-'));
  const file = join(dir, 'routes.yaml');
  writeFileSync(
    file,
    `listen: { host: 127.0.0.1, port: 0 }
routes:
  - id: api
    path: /api/
    upstream: http://127.0.0.1:9/
    auth: none
    headers:
      request:
        set:
          Authorization: Bearer \${EXPLAIN_TOKEN}
          X-Api-Key: \${EXPLAIN_API_KEY}
          X-Signature: literal-\${EXPLAIN_TOKEN}-suffix
          Proxy-Authorization: Basic c3ZjOmxpdGVyYWw=
          X-Env: prod
`,
  );
  const run = (...args: string[]) =>
    spawnSync(process.execPath, ['scripts/portico.js', 'explain', '--config', file, ...args], {
      encoding: 'utf8',
      env: {
        ...process.env,
        EXPLAIN_TOKEN: TOKEN,
        EXPLAIN_API_KEY: API_KEY,
      },
    });

  it('prints neither interpolated values nor secret headers, in text or JSON', (t) => {
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    for (const args of [
      ['GET', '/api/x'],
      ['--json', 'GET', '/api/x'],
    ]) {
      const r = run(...args);
      assert.equal(r.status, 0, r.stderr);
      for (const secret of [TOKEN, API_KEY, 'c3ZjOmxpdGVyYWw='])
        assert.ok(!r.stdout.includes(secret), `${args.join(' ')} printed ${secret}:\n${r.stdout}`);
      // What it does print still explains: the variable named, a plain value as it is.
      assert.match(r.stdout, /Bearer \$\{EXPLAIN_TOKEN\}/);
      assert.match(r.stdout, /literal-\$\{EXPLAIN_TOKEN\}-suffix/);
      assert.match(r.stdout, /\bprod\b/);
    }
  });
});
