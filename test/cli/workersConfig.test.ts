// `serve --workers N`: a worker that dies is replaced by one serving what its siblings serve. The
// replacement once read routes.yaml afresh: with a broken file on disk (rejected by the running
// workers, who keep the last good config) it could not start, and the primary restarted it every
// half second for as long as the file stayed broken.
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../helpers/ports.ts';
import { stopChild } from '../helpers/processes.ts';

const workersOf = (primary: ChildProcess) => {
  try {
    return execFileSync('pgrep', ['-P', String(primary.pid)], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
};

describe('serve --workers', () => {
  it('replaces a dead worker with one serving the running config while the file is broken', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'portico-workers-'));
    const file = join(dir, 'routes.yaml');
    const port = await freePort();
    const config = (upstream: string) =>
      `listen: { host: 127.0.0.1, port: ${port} }\nroutes:\n  - { id: app, path: /, upstream: "${upstream}" }\n`;
    writeFileSync(file, config('http://127.0.0.1:9/'));
    const primary = spawn(
      process.execPath,
      ['scripts/portico.js', 'serve', '--config', file, '--workers', '2'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    primary.stdout!.on('data', (c) => {
      out += c;
    });
    primary.stderr!.on('data', (c) => {
      out += c;
    });
    t.after(async () => {
      await stopChild(primary);
      rmSync(dir, { recursive: true, force: true });
    });
    const listening = () => out.split('portico is listening').length - 1;
    for (let i = 0; i < 300 && listening() < 2; i++) await sleep(100);
    assert.equal(listening(), 2, out);

    // A broken file: the running workers reject it and keep serving.
    writeFileSync(`${file}.tmp`, config('not a url'));
    renameSync(`${file}.tmp`, file);
    for (let i = 0; i < 100 && out.split('config rejected').length - 1 < 2; i++) await sleep(100);

    const [victim] = workersOf(primary);
    assert.ok(victim, 'a worker to stop');
    process.kill(victim, 'SIGKILL');
    for (let i = 0; i < 300 && listening() < 3; i++) await sleep(100);
    await sleep(1500);
    const restarts = out.split('starting another').length - 1;
    assert.equal(listening(), 3, `the replacement worker started:\n${out.slice(-2000)}`);
    assert.equal(restarts, 1, `one replacement, no restart loop:\n${out.slice(-2000)}`);
    assert.equal(workersOf(primary).length, 2);
    const r = await fetch(`http://127.0.0.1:${port}/_portico/healthz`);
    assert.equal(r.status, 200);
  });
});
