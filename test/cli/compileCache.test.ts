// The image build fills Node's compile cache (scripts/warmCompileCache.ts) so that a new
// container starts from it: every module a gateway loads is then read from the cache, none is
// stripped or compiled on start. Run natively, as the Dockerfile runs it.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { statusOnceUp } from '../helpers/eventually.ts';
import { pureProxyConfigFile } from '../helpers/porticoProcess.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');

describe('the warmed compile cache', () => {
  it('serves every module a gateway loads on its first start, with none compiled again', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'portico-compile-cache-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const cache = join(dir, 'cache');
    const warm = spawnSync(process.execPath, ['scripts/warmCompileCache.ts', cache], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    assert.equal(warm.status, 0, warm.stderr);
    assert.match(warm.stdout, /\d+ gateway modules, \d+ packages/);

    // Portico's own endpoints (express) and a route: more than the smallest start loads.
    const { file, port } = await pureProxyConfigFile(t, dir);
    const child = spawn(process.execPath, ['scripts/portico.js', 'serve', '--config', file], {
      cwd: ROOT,
      env: { ...process.env, NODE_COMPILE_CACHE: cache, NODE_DEBUG_NATIVE: 'COMPILE_CACHE' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let trace = '';
    child.stderr!.on('data', (c: Buffer) => {
      trace += c;
    });
    const exited = once(child, 'exit');
    t.after(() => child.exitCode === null && child.kill('SIGKILL'));
    assert.equal(await statusOnceUp(`http://127.0.0.1:${port}`, '/app/x'), 200);
    assert.equal(await statusOnceUp(`http://127.0.0.1:${port}`, '/_portico/healthz'), 200);
    child.kill('SIGTERM');
    await exited;

    const accepted = trace.match(/V8 code cache for \S+ \S+ was accepted/g) ?? [];
    const missed = trace.split('\n').filter((l) => /no such file or directory|no transpile cache/.test(l));
    assert.deepEqual(missed, [], 'modules compiled on start instead of read from the cache');
    assert.ok(
      accepted.some((l) => l.includes('/gateway/cli.ts')) &&
        accepted.some((l) => l.includes('/node_modules/undici/')),
      'the gateway and its packages come from the cache',
    );
    assert.ok(accepted.length > 100, `${accepted.length} modules read from the cache`);
  });
});
