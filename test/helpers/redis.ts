import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import type { TestContext } from 'node:test';
import { freePort } from './sso.ts';
import { accepts } from './processes.ts';
import { eventually } from './eventually.ts';

export type RedisServer = { url: string; port: number; stop(): Promise<void>; start(): Promise<void> };

/**
 * A private redis-server on a free loopback port that a test may stop and start again (the
 * machine's shared Redis must stay up for other suites). Fails with a clear message if
 * redis-server is not installed.
 */
export async function startRedis(t: Pick<TestContext, 'after'>): Promise<RedisServer> {
  if (spawnSync('redis-server', ['--version']).error) {
    throw new Error('redis-server is not installed: apt-get install redis-server (or run .ci/run)');
  }
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    await waitForPort(port, true);
  };
  const stop = async () => {
    if (!child) return;
    const c = child;
    child = undefined;
    c.kill('SIGKILL');
    await waitForPort(port, false);
  };
  await start();
  t.after(stop);
  return { url: `redis://127.0.0.1:${port}`, port, stop, start };
}

/** The machine's shared Redis (REDIS_URL), or a clear failure saying how to get one. */
export async function sharedRedisUrl(): Promise<string> {
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const u = new URL(url);
  const up = await accepts(Number(u.port || 6379), u.hostname);
  if (!up) throw new Error(`Redis is not reachable at ${url}: start redis-server or set REDIS_URL`);
  return url;
}

/** redis-server started with stdio ignored says nothing: ask until the port is as wanted. */
async function waitForPort(port: number, open: boolean): Promise<void> {
  const now = await eventually(
    () => accepts(port),
    (up) => up === open,
    { timeoutMs: 5000, intervalMs: 50 },
  );
  if (now !== open) throw new Error(`redis on ${port} did not ${open ? 'start' : 'stop'}`);
}
