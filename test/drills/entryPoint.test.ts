// The documented production entry point, started as a user starts it, must drain on SIGTERM:
// `npx portico serve` (npm runs it through `sh -c`, which does not pass signals on) and the shim
// on an older system node (which hands over to Node 24).
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { tmpdir } from 'node:os';
import { describe, it, type TestContext } from 'node:test';
import { upstreamFor } from '../helpers/upstream.ts';
import { listeningUrl } from '../helpers/porticoProcess.ts';
import { type RawResponse, send } from '../helpers/http.ts';
import { eventually } from '../helpers/eventually.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');
/** The kernel picks the port; the child says which in its "portico is listening" line. */
const SERVE_ON_PORT_0 = ['--port', '0', '--host', '127.0.0.1'];

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
/** A command as a user's shell runs it, serving on a port of its choosing. */
function fromUserShell(command: string, args: string[]): ChildProcess {
  return spawn(command, [...args, ...SERVE_ON_PORT_0], {
    cwd: ROOT,
    env: userShellEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

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

type Served = {
  base: string;
  dir: string;
  /** Sends a request and resolves once the upstream holds it: a signal sent after it finds it in flight. */
  inFlight(): Promise<{ response: Promise<RawResponse> }>;
};

/** A config with one slow route; `start` launches Portico on it and this returns once it says where it listens. */
async function serve(t: TestContext, start: (file: string) => ChildProcess): Promise<Served> {
  let arrived!: () => void;
  const reached = new Promise<void>((r) => (arrived = r));
  const slow = await upstreamFor(t, {
    handler: (_req, res) => {
      arrived();
      setTimeout(() => res.end('finished'), 1500);
    },
  });
  const dir = mkdtempSync(join(tmpdir(), 'portico-entry-'));
  const file = join(dir, 'routes.yaml');
  writeFileSync(
    file,
    `logging: { level: info }\nroutes:\n  - { id: slow, path: /, upstream: "${slow.url}" }\n`,
  );
  const child = start(file);
  t.after(() => {
    // Whatever is left of this test's gateway, found by its own config folder, ended by id.
    for (const pid of processesMentioning(dir)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
    rmSync(dir, { recursive: true, force: true });
  });
  const base = await listeningUrl(child);
  return {
    base,
    dir,
    async inFlight() {
      const response = send(base, '/slow');
      await reached;
      return { response };
    },
  };
}

/** True once no process of this gateway (found by its config folder) is left. */
async function allGone(dir: string, withinMs: number): Promise<boolean> {
  const left = await eventually(
    async () => processesMentioning(dir),
    (pids) => pids.length === 0,
    { timeoutMs: withinMs, intervalMs: 100 },
  );
  return left.length === 0;
}

/** True once nothing answers on `base` any more (no event says when a grandchild let go of it). */
async function portIsFree(base: string, withinMs: number): Promise<boolean> {
  const open = await eventually(
    () =>
      send(base, '/_portico/healthz').then(
        () => true,
        () => false,
      ),
    (answered) => !answered,
    { timeoutMs: withinMs, intervalMs: 100 },
  );
  return !open;
}

describe('drill: SIGTERM to the entry point a user starts', () => {
  it('drains when `npx portico serve` gets SIGTERM: the request in flight finishes and the port is freed', async (t) => {
    const npx = spawnSync('sh', ['-c', 'command -v npx'], {
      env: userShellEnv(),
      encoding: 'utf8',
    }).stdout.trim();
    if (!npx) return t.skip('no npx on this machine');
    let launcher!: ChildProcess;
    const s = await serve(t, (file) => {
      launcher = fromUserShell(npx, ['portico', 'serve', '--config', file]);
      return launcher;
    });
    // In flight when the signal comes: sent before it, a request could still be on its way in.
    const { response } = await s.inFlight();
    launcher.kill('SIGTERM');
    const r = await response;
    assert.deepEqual([r.status, r.text], [200, 'finished']);
    assert.ok(await portIsFree(s.base, 15_000), 'the port is still in use: Portico did not stop');
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
      shim = fromUserShell(system, ['scripts/portico.js', 'serve', '--config', file]);
      return shim;
    });
    // In flight when the signal comes: sent before it, a request could still be on its way in.
    const { response } = await s.inFlight();
    const exited = once(shim, 'exit');
    shim.kill('SIGTERM');
    const r = await response;
    assert.deepEqual([r.status, r.text], [200, 'finished']);
    const [code, signal] = await exited;
    assert.deepEqual([code, signal], [0, null]);
    assert.ok(await portIsFree(s.base, 5_000));
    assert.ok(await allGone(s.dir, 5_000), `still running: ${processesMentioning(s.dir)}`);
  });
});
