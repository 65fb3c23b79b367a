// One bounded wrk run (one thread: two cores are shared by the load, the proxy and the upstream).
import { execFileSync } from 'node:child_process';

export type WrkResult = {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  errors: number;
  non2xx: number;
};

export function wrk(
  url: string,
  opts: { connections: number; seconds: number; headers?: string[] },
): WrkResult {
  const args = [
    '-t1',
    `-c${opts.connections}`,
    `-d${opts.seconds}s`,
    '--timeout',
    '5s',
    '--latency',
    ...(opts.headers ?? []).flatMap((h) => ['-H', h]),
    url,
  ];
  const out = execFileSync('wrk', args, { encoding: 'utf8', timeout: (opts.seconds + 30) * 1000 });
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? 0);
  const ms = (label: string) => {
    const m = new RegExp(`${label}\\s+([\\d.]+)(us|ms|s)`).exec(out);
    if (!m) return Number.NaN;
    const v = Number(m[1]);
    return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
  };
  const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  return {
    rps: num(/Requests\/sec:\s+([\d.]+)/),
    p50: ms(' 50%'),
    p99: ms(' 99%'),
    requests: num(/(\d+) requests in/),
    errors: errs ? errs.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
    non2xx: num(/Non-2xx or 3xx responses: (\d+)/),
  };
}
