// EXPERIMENT runner, not part of `npm run bench`: the minimal proxy with each way of forwarding
// (minimalProxy.ts a–e) against fastify + @fastify/reply-from, one process each, in one run,
// alternating, medians of BENCH_ROUNDS × BENCH_SECONDS, wrk -t1 -cBENCH_CONNECTIONS.
// Usage: node scripts/bench/experiments/run.ts     → a markdown table and bench-results/experiments-<date>.json
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median } from '../median.ts';
import { processes } from '../processes.ts';
import { procStats } from '../procStats.ts';
import { wrk } from '../wrk.ts';

const root = join(import.meta.dirname, '../../..');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const PATH = process.env.BENCH_PATH ?? '/dce5/small';
const dir = mkdtempSync(join(tmpdir(), 'portico-experiments-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const node = process.execPath;
const { url: upstream } = await processes.startUpstream();

const variants: [string, string[]][] = [
  ['fastify + reply-from', [join(root, 'scripts/bench/peers/fastifyReplyFrom.ts')]],
  ['(a) node:http + keep-alive Agent + relay', [join(import.meta.dirname, 'minimalProxy.ts'), 'a']],
  ['(b) undici Pool, pool.request() streamed', [join(import.meta.dirname, 'minimalProxy.ts'), 'b']],
  ['(c) undici pool.dispatch(), raw handler', [join(import.meta.dirname, 'minimalProxy.ts'), 'c']],
  ['(d) (c) + access line as a string → sonic-boom', [join(import.meta.dirname, 'minimalProxy.ts'), 'd']],
  ['(e) (c) + access line as pino.info({…})', [join(import.meta.dirname, 'minimalProxy.ts'), 'e']],
];
const targets: { name: string; url: string; pid: number }[] = [];
for (const [name, [script, ...rest]] of variants) {
  const port = await processes.freePort();
  const args = name.startsWith('fastify')
    ? [script!, upstream, String(port)]
    : [script!, ...rest, upstream, String(port)];
  // Access lines go to a file, as the bench's do.
  const child = processes.start(node, args, { stdout: join(dir, `${rest[0] ?? 'fastify'}.log`) });
  await processes.waitFor(`http://127.0.0.1:${port}${PATH}`);
  targets.push({ name, url: `http://127.0.0.1:${port}${PATH}`, pid: child.pid! });
}

const runs = new Map<string, { rps: number[]; cpuUs: number[]; errors: number }>();
for (const t of targets) wrk(t.url, { connections: CONNECTIONS, seconds: 1 });
for (let round = 1; round <= ROUNDS; round++) {
  for (const t of targets) {
    const before = procStats.cpuMs([t.pid]);
    const r = wrk(t.url, { connections: CONNECTIONS, seconds: SECONDS });
    const cpu = procStats.cpuMs([t.pid]) - before;
    const e = runs.get(t.name) ?? { rps: [], cpuUs: [], errors: 0 };
    runs.set(t.name, e);
    e.rps.push(r.rps);
    e.cpuUs.push((cpu * 1000) / Math.max(1, r.requests));
    e.errors += r.errors + r.non2xx;
    process.stderr.write(`round ${round}/${ROUNDS} ${t.name}: ${r.rps.toFixed(0)} req/s\n`);
  }
}
const base = median(runs.get(targets[0]!.name)!.rps);
const lines = [
  `Experiments — ${new Date().toISOString()} — ${PATH}, ${ROUNDS} rounds × ${SECONDS} s, wrk -t1 -c${CONNECTIONS}, medians, one process each`,
  '',
  '| forwarding | req/s | × fastify + reply-from | CPU µs/req | best round CPU µs/req | errors |',
  '|---|---:|---:|---:|---:|---:|',
  ...targets.map((t) => {
    const r = runs.get(t.name)!;
    return `| ${t.name} | ${Math.round(median(r.rps))} | ${(median(r.rps) / base).toFixed(2)} | ${median(r.cpuUs).toFixed(0)} | ${Math.min(...r.cpuUs).toFixed(0)} | ${r.errors} |`;
  }),
];
const table = lines.join('\n');
process.stdout.write(`\n${table}\n`);
mkdirSync(join(root, 'bench-results'), { recursive: true });
const out = join(root, 'bench-results', `experiments-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(
  out,
  JSON.stringify(
    {
      rounds: ROUNDS,
      seconds: SECONDS,
      connections: CONNECTIONS,
      path: PATH,
      runs: Object.fromEntries(runs),
      table,
    },
    null,
    2,
  ),
);
process.stdout.write(`\nwritten to ${out}\n`);
process.exit(0);
