// The launcher starts the gateway with its V8 flags (scripts/portico.js NODE_FLAGS), in the same
// process, unless the user gave the same flag.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { statusOnceUp } from '../helpers/eventually.ts';
import { freePort } from '../helpers/ports.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');

/** Starts `node [nodeArgs] scripts/portico.js serve` and returns its command line once it answers. */
async function servedCommandLine(t: TestContext, nodeArgs: string[]): Promise<string[]> {
  const port = await freePort();
  const file = join(mkdtempSync(join(tmpdir(), 'portico-flags-')), 'routes.yaml');
  writeFileSync(
    file,
    `listen: { host: 127.0.0.1, port: ${port} }\nroutes:\n  - { id: app, path: /app/, respond: { status: 204 } }\n`,
  );
  const child = spawn(process.execPath, [...nodeArgs, 'scripts/portico.js', 'serve', '--config', file], {
    cwd: ROOT,
    stdio: 'ignore',
  });
  const exited = once(child, 'exit');
  t.after(async () => {
    if (child.exitCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
  });
  const status = await statusOnceUp(`http://127.0.0.1:${port}`, '/_portico/healthz');
  assert.equal(status, 200);
  // The pid spawned is the gateway's: the launcher re-executes itself rather than starting a child.
  return readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
}

describe('the portico launcher', () => {
  it('runs the gateway in the same process with a 4 MB young-generation semi-space', async (t) => {
    const argv = await servedCommandLine(t, []);
    assert.ok(argv.includes('--max-semi-space-size=4'), argv.join(' '));
    assert.ok(argv.some((a) => a.endsWith('scripts/portico.js')));
  });

  it('keeps the semi-space size the user gives', async (t) => {
    const argv = await servedCommandLine(t, ['--max-semi-space-size=16']);
    assert.deepEqual(
      argv.filter((a) => a.startsWith('--max-semi-space-size')),
      ['--max-semi-space-size=16'],
    );
  });
});
