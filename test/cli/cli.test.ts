import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const dir = mkdtempSync(join(tmpdir(), 'portico-cli-'));
const portico = (...args: string[]) =>
  spawnSync(process.execPath, ['scripts/portico.js', ...args], {
    encoding: 'utf8',
    env: {
      ...process.env,
      SOME_SECRET: '',
      UNSET_SECRET: '',
      SESSION_SECRET: 'x'.repeat(40),
      OIDC_CLIENT_SECRET: 'y',
    },
  });

describe('portico validate', () => {
  it('exits 0 with a one-line summary for a valid file', () => {
    const file = join(dir, 'good.yaml');
    writeFileSync(
      file,
      'routes:\n  - { id: ai, path: /dce5/, upstream: "https://10.6.8.2:30343/", websocket: true }\n  - { id: customer, path: /, upstream: "https://10.6.165.50:30443/" }\n',
    );
    const r = portico('validate', file);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim().split('\n').length, 1);
    assert.match(r.stdout, /valid — 2 routes \(\/dce5\/, \/\).*pure reverse proxy/);
  });

  it('refuses a config without routes (a truncated save): exit 1, never "valid — 0 routes"', () => {
    for (const [name, text] of [
      ['empty.yaml', ''],
      ['comments.yaml', '# routes went missing\n'],
      ['no-routes.yaml', 'routes: []\n'],
    ] as const) {
      const file = join(dir, name);
      writeFileSync(file, text);
      const r = portico('validate', file);
      assert.equal(r.status, 1, name);
      assert.match(
        r.stderr,
        /invalid, 1 error\n.*(the file is empty|routes: must list at least 1 entry)/,
        name,
      );
      assert.doesNotMatch(r.stdout, /valid/, name);
    }
  });

  it('exits 1 and prints every error with its path and line', () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      'session:\n  secret: ${SOME_SECRET}\nroutes:\n  - id: ai\n    path: dce5/\n    upstream: ftp://x\n',
    );
    const r = portico('validate', '--strict-env', file);
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      /bad\.yaml:2:\d+ +session\.secret: environment variable \$\{SOME_SECRET\} is not set/,
    );
    writeFileSync(file, 'routes:\n  - id: ai\n    path: dce5/\n    upstream: ftp://x\n');
    const r2 = portico('validate', file);
    assert.equal(r2.status, 1);
    assert.match(r2.stderr, /invalid, 2 errors/);
    assert.match(r2.stderr, /bad\.yaml:3:\d+ +routes\[0\]\.path/);
    assert.match(r2.stderr, /bad\.yaml:4:\d+ +routes\[0\]\.upstream/);
  });

  it('reports a bad upstream URL and a duplicate route id in one run', () => {
    const file = join(dir, 'both.yaml');
    writeFileSync(
      file,
      [
        'routes:',
        '  - id: ai',
        '    path: /dce5/',
        '    upstream: "http://exa mple/"',
        '  - id: ai',
        '    path: /',
        '    upstream: http://10.0.0.1/',
        '',
      ].join('\n'),
    );
    const r = portico('validate', file);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /invalid, 2 errors\n/);
    assert.match(
      r.stderr,
      /both\.yaml:4:\d+ +routes\[0\]\.upstream: "http:\/\/exa mple\/" is not a valid URL/,
    );
    assert.match(r.stderr, /both\.yaml:5:\d+ +routes\[1\]\.id: duplicate route id "ai"/);
  });

  it('names the path and the first character of a wrongly indented line', () => {
    const file = join(dir, 'indent.yaml');
    writeFileSync(
      file,
      [
        'listen: { port: 8080 }',
        'identityProviders:',
        '  - id: corp',
        '    type: oidc',
        '   issuer: https://idp.example.com',
        'routes:',
        '  - { id: web, path: /, upstream: "http://10.0.0.1/" }',
        '',
      ].join('\n'),
    );
    const r = portico('validate', file);
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      /indent\.yaml:5:4 +identityProviders\[0\]: .*\(check the indentation of this line\)/,
    );
    assert.doesNotMatch(r.stderr, /\(root\)/);
  });

  it('validates the routes.yaml shipped at the top of the repository', () => {
    const r = portico('validate', 'routes.yaml');
    assert.equal(r.status, 0, r.stderr);
  });

  it('validates the shipped routes.yaml without its secrets: exit 0, the summary, a warning per unset variable', () => {
    const env = { ...process.env };
    delete env.SESSION_SECRET;
    delete env.OIDC_CLIENT_SECRET;
    delete env.GHIPPO_CLIENT_SECRET;
    const r = spawnSync(process.execPath, ['scripts/portico.js', 'validate', 'routes.yaml'], {
      encoding: 'utf8',
      env,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stdout,
      /^routes\.yaml: valid — 3 routes \(\/dce5\/apis\/, \/dce5\/, \/\), 1 identity provider/,
    );
    assert.match(r.stderr, /3 warnings \(--strict-env makes them errors\)/);
    assert.match(
      r.stderr,
      /routes\.yaml:\d+:\d+ +oidcProvider\.clients\[0\]\.secret: GHIPPO_CLIENT_SECRET is not set here/,
    );
    assert.match(
      r.stderr,
      /routes\.yaml:\d+:\d+ +session\.secret: SESSION_SECRET is not set here; it must be set at serve time/,
    );
    assert.match(
      r.stderr,
      /routes\.yaml:\d+:\d+ +identityProviders\[0\]\.clientSecret: OIDC_CLIENT_SECRET is not set here/,
    );
    const strict = spawnSync(
      process.execPath,
      ['scripts/portico.js', 'validate', '--strict-env', 'routes.yaml'],
      {
        encoding: 'utf8',
        env,
      },
    );
    assert.equal(strict.status, 1);
    assert.match(strict.stderr, /invalid, 3 errors/);
  });

  it('still reports every real error next to an unset variable, and nothing about the placeholder', () => {
    const file = join(dir, 'unset.yaml');
    writeFileSync(
      file,
      [
        'session: { secret: ${UNSET_SECRET}, store: redis, redis: { url: "${UNSET_REDIS_URL}" } }',
        'listen: { port: ${UNSET_PORT} }',
        'routes:',
        '  - { id: ai, path: /dce5/, upstream: "${UNSET_UPSTREAM}" }',
        '  - { id: ai, path: /, upstream: "http://10.0.0.1/" }',
        '',
      ].join('\n'),
    );
    const r = portico('validate', file);
    assert.equal(r.status, 1, r.stdout);
    assert.match(r.stderr, /invalid, 1 error\n.*unset\.yaml:5:\d+ +routes\[1\]\.id: duplicate route id "ai"/);
    assert.doesNotMatch(r.stderr, /placeholder|unset\.invalid/);
  });
});

describe('portico hash-key', () => {
  it('prints a key and the hash that goes into routes.yaml', () => {
    const r = portico('hash-key', '--id', 'ci');
    assert.equal(r.status, 0);
    assert.match(r.stdout, /ptk_ci_[A-Za-z0-9_-]{43}/);
    assert.match(r.stdout, /hash: "sha256:[0-9a-f]{64}"/);
  });
});

describe('portico serve', () => {
  it('refuses to start while a variable of the file is unset', () => {
    const env = { ...process.env };
    delete env.SESSION_SECRET;
    const r = spawnSync(process.execPath, ['scripts/portico.js', 'serve', '--config', 'routes.yaml'], {
      encoding: 'utf8',
      env,
    });
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      /invalid, not starting\n.*session\.secret: environment variable \$\{SESSION_SECRET\} is not set/,
    );
  });

  it('refuses --workers with the memory store when the config keeps state every worker must see', () => {
    const file = join(dir, 'workers.yaml');
    writeFileSync(
      file,
      'listen: { port: 0 }\nroutes:\n  - { id: app, path: /, upstream: "http://127.0.0.1:9/", rateLimit: { perIp: 10/s } }\n',
    );
    const r = portico('serve', '--workers', '2', '--config', file);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /--workers > 1 needs session\.store: redis.*\(rateLimit\)/);
  });

  it('says in one line that the port is in use and exits 1', async (t) => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => taken.close(() => resolve())));
    const port = (taken.address() as AddressInfo).port;
    const file = join(dir, 'serve.yaml');
    writeFileSync(file, 'routes:\n  - { id: app, path: /, upstream: "http://127.0.0.1:9/" }\n');
    const child = spawn(
      process.execPath,
      ['scripts/portico.js', 'serve', '--config', file, '--port', String(port), '--host', '127.0.0.1'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr += c;
    });
    const [code] = await once(child, 'exit');
    assert.equal(code, 1);
    assert.equal(stderr, `portico: port ${port} on 127.0.0.1 is in use\n`);
  });
});
