import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { freePort } from './ports.ts';
import { startUpstream, type Upstream } from './upstream.ts';

/**
 * The address a `portico serve` child announces in its "portico is listening" log line (JSON or
 * pretty), so the child can be started with `--port 0` and asked where it is. Rejects with what it
 * printed when it exits first or `timeoutMs` passes. The config must log at level info or below.
 */
export function listeningUrl(child: ChildProcess, timeoutMs = 60_000): Promise<string> {
  let out = '';
  return new Promise((resolve, reject) => {
    const done = (err: Error | undefined, url?: string) => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onOutput);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(url!);
    };
    const onOutput = (chunk: Buffer) => {
      out += chunk;
    };
    const onData = (chunk: Buffer) => {
      onOutput(chunk);
      const line = out.split('\n').find((l) => l.includes('portico is listening'));
      const url = line && /https?:\/\/[^\s"]+/.exec(line)?.[0];
      if (url) done(undefined, url);
    };
    const onExit = (code: number | null) =>
      done(new Error(`portico exited (${code}) before listening:\n${out}`));
    const timer = setTimeout(
      () => done(new Error(`portico did not announce its address within ${timeoutMs} ms:\n${out}`)),
      timeoutMs,
    );
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onOutput);
    child.once('exit', onExit);
  });
}

/**
 * A pure-proxy routes.yaml in `dir` (one route, /app/, to a real upstream closed when `t` ends) on a
 * free port, for a `portico serve` child: the smallest config a user starts.
 */
export async function pureProxyConfigFile(
  t: Pick<TestContext, 'after'>,
  dir: string,
): Promise<{ file: string; port: number; upstream: Upstream }> {
  const upstream = await startUpstream();
  t.after(() => upstream.close());
  const port = await freePort();
  const file = join(dir, 'routes.yaml');
  writeFileSync(
    file,
    `listen: { host: 127.0.0.1, port: ${port} }\nroutes:\n  - { id: app, path: /app/, upstream: "${upstream.url}/" }\n`,
  );
  return { file, port, upstream };
}
