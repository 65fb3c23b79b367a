import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { freePort } from '../helpers/sso.ts';

const root = join(import.meta.dirname, '..', '..');

/** True while something accepts connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('npm start', () => {
  it('frees every port of the demo when npm itself gets SIGTERM', async (t) => {
    const ports = { PORTICO_PORT: 0, DEMO_CUSTOMER_PORT: 0, DEMO_AI_PORT: 0, DEMO_IDP_PORT: 0 };
    for (const name of Object.keys(ports) as (keyof typeof ports)[]) ports[name] = await freePort();
    // npm from the system (as a user runs it), in a process group of its own so that the test can
    // clean up whatever survives a failed assertion.
    const npm = spawn('npm', ['start'], {
      cwd: root,
      env: { ...process.env, ...Object.fromEntries(Object.entries(ports).map(([k, v]) => [k, String(v)])) },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    t.after(() => {
      try {
        process.kill(-npm.pid!, 'SIGKILL');
      } catch {
        // the group is gone: nothing survived
      }
    });
    let out = '';
    let err = '';
    npm.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    await new Promise<void>((resolve, reject) => {
      npm.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        if (out.includes('Portico demo is running')) resolve();
      });
      npm.once('exit', (code) =>
        reject(new Error(`npm start exited (${code}) before the demo ran:\n${out}\n${err}`)),
      );
    });
    for (const port of Object.values(ports))
      assert.equal(await listening(port), true, `port ${port} is served`);

    const exited = once(npm, 'exit');
    process.kill(npm.pid!, 'SIGTERM');
    await exited;
    // The demo's node process is npm's grandchild: no exit event reaches us, so watch its ports.
    const deadline = Date.now() + 10_000;
    let held = Object.values(ports);
    while (held.length > 0 && Date.now() < deadline) {
      held = (await Promise.all(held.map(async (p) => ((await listening(p)) ? p : undefined)))).filter(
        (p) => p !== undefined,
      );
      if (held.length > 0) await delay(100);
    }
    // Should it fail: which of npm's processes are left, and in what state.
    const left = () =>
      spawnSync('ps', ['-o', 'pid,ppid,stat,etime,args', '-g', String(npm.pid)], { encoding: 'utf8' }).stdout;
    assert.deepEqual(held, [], `still listening after npm was stopped:\n${left()}\n${out}\n${err}`);
    assert.doesNotMatch(err, /EBADENGINE/, 'no engine warning on the system node');
  });
});
