// The bench's child processes: started with a file limit large enough for what they will hold,
// all killed when the bench exits, however it exits.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { openSync } from 'node:fs';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

const started: ChildProcess[] = [];
process.on('exit', () => {
  for (const c of started) if (c.exitCode === null) c.kill('SIGKILL');
});

/**
 * `nofile` raises the child's open-file limit through prlimit (root may raise the hard limit);
 * `stdout` is 'pipe', 'ignore' or a file to append to.
 */
function start(
  cmd: string,
  args: string[],
  opts: { stdout?: 'pipe' | 'ignore' | string; nofile?: number; cwd?: string; env?: NodeJS.ProcessEnv } = {},
): ChildProcess {
  const out =
    opts.stdout === undefined || opts.stdout === 'ignore'
      ? 'ignore'
      : opts.stdout === 'pipe'
        ? 'pipe'
        : openSync(opts.stdout, 'a');
  const [file, argv] = opts.nofile
    ? ['prlimit', [`--nofile=${opts.nofile}:${opts.nofile}`, '--', cmd, ...args]]
    : [cmd, args];
  const child = spawn(file, argv, { stdio: ['pipe', out, 'inherit'], cwd: opts.cwd, env: opts.env });
  started.push(child);
  return child;
}

/** The bench's upstream (upstream.ts) in its own process, once it has printed the port it listens on. */
async function startUpstream(): Promise<{ child: ChildProcess; port: number; url: string }> {
  const child = start(process.execPath, [join(import.meta.dirname, 'upstream.ts')], { stdout: 'pipe' });
  const [portLine] = (await once(child.stdout!, 'data')) as [Buffer];
  const port = Number(String(portLine).trim());
  return { child, port, url: `http://127.0.0.1:${port}` };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

async function freePort(): Promise<number> {
  const s = createServer().listen(0, '127.0.0.1');
  await once(s, 'listening');
  const port = (s.address() as { port: number }).port;
  s.close();
  return port;
}

/** Polls until the URL answers 200 (every few ms, so it doubles as a start-time probe). */
async function waitFor(url: string, opts: { timeoutMs?: number; everyMs?: number } = {}): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 20_000);
  while (Date.now() < deadline) {
    try {
      const r = await fetch(url);
      await r.arrayBuffer();
      if (r.status === 200) return;
    } catch {
      // not up yet
    }
    await sleep(opts.everyMs ?? 50);
  }
  throw new Error(`${url} did not answer 200`);
}

export const processes = { start, stop, freePort, waitFor, startUpstream };
