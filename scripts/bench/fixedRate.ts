// Load at a fixed request rate, open-loop, with latency counted from when each request was due:
// percentiles to the microsecond, and a target that cannot hold the rate shows it as queueing
// rather than by being sent less. The generator is wrk2 (Gil Tene's wrk with a constant rate and
// coordinated-omission correction) when one is found — BENCH_WRK2=/path/to/wrk, or `wrk2` on the
// PATH — else scripts/bench/openLoop.ts, the same model in a Node process of its own.
//
// Why wrk2 first: the generator shares the two cores with the proxy and the upstream, and a Node
// generator's own event loop, timers and collections show up in every target's tail. Measured
// (2026-12-02, 3,000 req/s, 32 connections, 5 s, alternating, same processes): p99 of the upstream
// direct 2.0–3.2 ms with wrk2 against 6.9–37 ms with openLoop.ts, of a pure-proxy Portico 3.1–134
// against 44–148 ms. wrk2 is not packaged by Debian: `git clone https://github.com/giltene/wrk2 &&
// make -C wrk2` (needs gcc, make, libssl-dev, zlib1g-dev), then BENCH_WRK2=$PWD/wrk2/wrk.
import { spawn, spawnSync } from 'node:child_process';
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

/** The wrk2 binary the bench uses, if any. */
export const wrk2Path: string | undefined = (() => {
  const given = process.env.BENCH_WRK2;
  if (given) return given;
  const found = spawnSync('sh', ['-c', 'command -v wrk2'], { encoding: 'utf8' }).stdout.trim();
  return found || undefined;
})();

/** What produced the figures, for the printed tables. */
export const fixedRateGenerator = wrk2Path
  ? 'wrk2, one thread'
  : 'scripts/bench/openLoop.ts, a Node process (wrk2 not found: BENCH_WRK2)';

export async function fixedRate(
  url: string,
  opts: {
    rate: number;
    seconds: number;
    connections: number;
    headers?: Record<string, string>;
    /** With wrk2: run `seconds` in all, calibration included (see withWrk2). */
    exact?: boolean;
  },
): Promise<FixedRateResult> {
  const headers = Object.entries(opts.headers ?? {}).map(([k, v]) => `${k}: ${v}`);
  if (wrk2Path) return withWrk2(wrk2Path, url, opts, headers);
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

/**
 * wrk2 calibrates for its first 10 s (plus 5 ms a connection) and then resets its histograms: the
 * percentiles it prints cover only what follows. A run shorter than that would report the start
 * with it — the staggered connects, the target's first answers on new sockets — which is not the
 * steady rate the figure claims: measured here at 4,600 req/s, p99 of the upstream direct 5.3 ms
 * over a 5 s run against 3.6 ms over the steady part of a 20 s one (fastify 16.1 / 8.4 ms, Portico
 * 40.4 / 15.4 ms). So a run lasts calibration + `seconds`, and the percentiles are of the last
 * `seconds`; `requests` and `achieved` count the whole run, as the CPU the caller measures around
 * it does. `exact`: the run lasts `seconds` (the soak, whose RSS is sampled over that time); its
 * percentiles are then of what followed the calibration.
 */
async function withWrk2(
  bin: string,
  url: string,
  opts: { rate: number; seconds: number; connections: number; exact?: boolean },
  headers: string[],
): Promise<FixedRateResult> {
  const calibrationMs = 10_000 + opts.connections * 5;
  const seconds = opts.exact ? opts.seconds : Math.ceil(calibrationMs / 1000) + opts.seconds;
  const child = spawn(
    bin,
    [
      '-t1',
      `-c${opts.connections}`,
      `-R${opts.rate}`,
      `-d${seconds}s`,
      '--latency',
      ...headers.flatMap((h) => ['-H', h]),
      url,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`wrk2 exited with ${code}`);
  if (!/Thread calibration/.test(out))
    throw new Error(`wrk2 did not calibrate, so its percentiles include its start:\n${out}`);
  return parseWrk2(out, opts.rate);
}

/** The figures of wrk2's `--latency` report (HdrHistogram percentiles, recorded latency). */
export function parseWrk2(out: string, rate: number): FixedRateResult {
  const ms = (q: string) => {
    const m = new RegExp(`^\\s*${q.replace('.', '\\.')}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(out);
    if (!m) throw new Error(`no ${q}% in wrk2's report:\n${out}`);
    const unit = { us: 0.001, ms: 1, s: 1000, m: 60_000 }[m[2] as 'us' | 'ms' | 's' | 'm'];
    return Number(m[1]) * unit;
  };
  const count = (re: RegExp) => Number(re.exec(out)?.[1] ?? 0);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const socketErrors = sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0;
  return {
    rate,
    achieved: count(/Requests\/sec:\s+([\d.]+)/),
    p50: ms('50.000'),
    p99: ms('99.000'),
    max: ms('100.000'),
    requests: count(/(\d+) requests in/),
    errors: socketErrors + count(/Non-2xx or 3xx responses:\s+(\d+)/),
    dropped: 0,
    unfinished: 0,
  };
}
