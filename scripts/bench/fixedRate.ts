// Load at a fixed request rate, open-loop (scripts/bench/openLoop.ts in its own process), with
// latency counted from when each request was due: percentiles to the microsecond, and a target
// that cannot hold the rate shows it as queueing rather than by being sent less.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';

export type FixedRateResult = {
  rate: number;
  achieved: number;
  p50: number;
  p99: number;
  max: number;
  requests: number;
  /** Failed requests: connection errors, timeouts, statuses ≥ 400. */
  errors: number;
  /** Not sent: more than 32 per connection were already waiting (the target fell behind). */
  dropped: number;
  /** Sent but not answered 10 s after the last one was due. */
  unfinished: number;
};

export async function fixedRate(
  url: string,
  opts: { rate: number; seconds: number; connections: number; headers?: Record<string, string> },
): Promise<FixedRateResult> {
  const headers = Object.entries(opts.headers ?? {}).map(([k, v]) => `${k}: ${v}`);
  const child = spawn(
    process.execPath,
    [
      join(import.meta.dirname, 'openLoop.ts'),
      url,
      String(opts.rate),
      String(opts.seconds),
      String(opts.connections),
      ...headers,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`the load generator exited with ${code}`);
  return JSON.parse(out) as FixedRateResult;
}
