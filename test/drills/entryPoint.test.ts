// The documented production entry point, started as a user starts it, must drain on SIGTERM:
// `npx portico serve` (npm runs it through `sh -c`, which does not pass signals on) and the shim
// on an older system node (which hands over to Node 24).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { delimiter, join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../helpers/sso.ts';
import { startUpstream } from '../helpers/upstream.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolvePromise, reject) => {
    request(url, { agent: false }, (res) => {
      let body = '';
      res.on('data', (c) => {
        body += c;
      });
      res.on('end', () => resolvePromise({ status: res.statusCode!, body }));
    })
      .on('error', reject)
      .end();
  });
}

/** The shell a user types in: no npm variables, and none of this checkout's node_modules/.bin. */
function userShellEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^npm_/i.test(k)) env[k] = v;
  env.PATH = (process.env.PATH ?? '')
    .split(delimiter)
    .filter((p) => !p.includes(`${join('node_modules', '.bin')}`) && !p.includes('node-gyp-bin'))
    .join(delimiter);
  return env;
}

/** Process ids whose command line mentions `text` (the test's own config folder). */
function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(text)) pids.push(Number(entry));
    } catch {}
  }
  return pids;
}

type Served = { port: number; dir: string; inFlight(): Promise<{ status: number; body: string }> };

/** A config with one slow route; `start` launches Portico on it and returns once it answers. */
async function serve(t: TestContext, start: (file: string, port: number) => ChildProcess): Promise<Served> {
  let arrived!: () => void;
  const reached = new Promise<void>((r) => (arrived = r));
  const slow = await startUpstream({
    handler: (_req, res) => {
      arrived();
      setTimeout(() => res.end('finished'), 1500);
    },
  });
  t.after(() => slow.close());
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'portico-entry-'));
  const file = join(dir, 'routes.yaml');
  writeFileSync(
    file,
    `listen: { host: 127.0.0.1, port: ${port} }\nlogging: { level: warn }\nroutes:\n  - { id: slow, path: /, upstream: "${slow.url}" }\n`,
  );
  const child = start(file, port);
  let output = '';
  child.stdout?.on('data', (c) => {
    output += c;
  });
  child.stderr?.on('data', (c) => {
    output += c;
  });
  t.after(() => {
    // Whatever is left of this test's gateway, found by its own config folder, ended by id.
    for (const pid of processesMentioning(dir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const deadline = Date.now() + 60_000;
  while (
    (await get(`http://127.0.0.1:${port}/_portico/healthz`).catch(() => ({ status: 0 }))).status !== 200
  ) {
    if (Date.now() > deadline || child.exitCode !== null) assert.fail(`Portico did not start:\n${output}`);
    await sleep(100);
  }
  return {
    port,
    dir,
    async inFlight() {
      const response = get(`http://127.0.0.1:${port}/slow`);
      await reached;
      return response;
    },
  };
}

/** True once no process of this gateway (found by its config folder) is left. */
async function allGone(dir: string, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (processesMentioning(dir).length > 0) {
    if (Date.now() > deadline) return false;
    await sleep(100);
  }
  return true;
}

async function portIsFree(port: number, withinMs: number): Promise<boolean> {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    const open = await get(`http://127.0.0.1:${port}/_portico/healthz`).then(
      () => true,
      () => false,
    );
    if (!open) return true;
    await sleep(100);
  }
  return false;
}

describe('drill: SIGTERM to the entry point a user starts', () => {
  it('drains when `npx portico serve` gets SIGTERM: the request in flight finishes and the port is freed', async (t) => {
    const npx = spawnSync('sh', ['-c', 'command -v npx'], {
      env: userShellEnv(),
      encoding: 'utf8',
    }).stdout.trim();
    if (!npx) return t.skip('no npx on this machine');
    let launcher!: ChildProcess;
    const s = await serve(t, (file, port) => {
      launcher = spawn(
        npx,
        ['portico', 'serve', '--config', file, '--port', String(port), '--host', '127.0.0.1'],
        { cwd: ROOT, env: userShellEnv(), stdio: ['ignore', 'pipe', 'pipe'] },
      );
      return launcher;
    });
    const response = s.inFlight();
    launcher.kill('SIGTERM');
    const r = await response;
    assert.deepEqual(r, { status: 200, body: 'finished' });
    assert.ok(await portIsFree(s.port, 15_000), 'the port is still in use: Portico did not stop');
    assert.ok(await allGone(s.dir, 10_000), `still running: ${processesMentioning(s.dir)}`);
  });

  it('drains when the shim, started by an older system node, gets SIGTERM, and exits with Portico’s code', async (t) => {
    const system = spawnSync('sh', ['-c', 'command -v node'], {
      env: userShellEnv(),
      encoding: 'utf8',
    }).stdout.trim();
    const version = system
      ? spawnSync(system, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout
      : '';
    if (!system || Number(version.split('.')[0]) >= 24)
      return t.skip(`the system node (${version.trim() || 'none'}) needs no hand-over`);
    let shim!: ChildProcess;
    const s = await serve(t, (file) => {
      shim = spawn(system, ['scripts/portico.js', 'serve', '--config', file], {
        cwd: ROOT,
        env: userShellEnv(),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      return shim;
    });
    const response = s.inFlight();
    const exited = once(shim, 'exit');
    shim.kill('SIGTERM');
    assert.deepEqual(await response, { status: 200, body: 'finished' });
    const [code, signal] = await exited;
    assert.deepEqual([code, signal], [0, null]);
    assert.ok(await portIsFree(s.port, 5_000));
    assert.ok(await allGone(s.dir, 5_000), `still running: ${processesMentioning(s.dir)}`);
  });
});
