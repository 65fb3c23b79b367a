// EXPERIMENT, not part of `npm run bench`: the soak of the bench (a fresh Portico, authenticated +
// JWT route, fixed rate, RSS and V8 heap every 10 s) with Node and allocator settings that bound
// memory, one after the other, to see which part of the RSS each one moves.
// Usage: node scripts/bench/experiments/soakMemory.ts   (BENCH_SOAK_SECONDS, default 120; BENCH_SOAK_RATE, 3000;
//   SOAK_VARIANTS=defaults,semi16 to run some; PORTICO_ROOT=/other/checkout to soak another Portico;
//   BENCH_HEAP_SNAPSHOT=1 for snapshots before and after each, in bench-results/heap-soak-<date>/)
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { benchSession } from '../benchSession.ts';
import { porticoConfig } from '../porticoConfig.ts';
import { processes } from '../processes.ts';
import { soak } from '../soak.ts';

const root = join(import.meta.dirname, '../../..');
// The Portico soaked (its scripts/portico.js); the harness is this checkout's.
const porticoRoot = process.env.PORTICO_ROOT ?? root;
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const heapDir =
  process.env.BENCH_HEAP_SNAPSHOT === '1' ? join(root, 'bench-results', `heap-soak-${stamp}`) : undefined;
if (heapDir) mkdirSync(heapDir, { recursive: true });
const SECONDS = Number(process.env.BENCH_SOAK_SECONDS ?? 120);
const RATE = Number(process.env.BENCH_SOAK_RATE ?? 3000);
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const dir = mkdtempSync(join(tmpdir(), 'portico-soak-memory-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

// `defaults` is Portico as its launcher starts it (since the lazy-loading work: with
// --max-semi-space-size=4); `semi16` gives V8's own young-generation maximum back.
const allVariants: { key: string; name: string; nodeArgs?: string[]; env?: Record<string, string> }[] = [
  { key: 'defaults', name: 'defaults (as scripts/portico.js starts it)' },
  { key: 'semi16', name: '--max-semi-space-size=16 (V8 default)', nodeArgs: ['--max-semi-space-size=16'] },
  {
    key: 'semi4',
    name: '--max-semi-space-size=4 (young generation ≤ 4 MB per semi-space)',
    nodeArgs: ['--max-semi-space-size=4'],
  },
  { key: 'arena2', name: 'MALLOC_ARENA_MAX=2 (glibc: two malloc arenas)', env: { MALLOC_ARENA_MAX: '2' } },
  {
    key: 'both',
    name: 'semi-space 4 MB and MALLOC_ARENA_MAX=2',
    nodeArgs: ['--max-semi-space-size=4'],
    env: { MALLOC_ARENA_MAX: '2' },
  },
];
const chosen = process.env.SOAK_VARIANTS?.split(',');
const variants = chosen ? allVariants.filter((v) => chosen.includes(v.key)) : allVariants;

const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
const { child: up, url: upstream } = await processes.startUpstream();
const secret = randomBytes(32).toString('hex');
const keyPrefix = `benchsoak${Date.now()}:`;
const cookie = await benchSession(redis, { keyPrefix, secret });
const lines = [
  `Soak memory experiments — ${new Date().toISOString()} — ${SECONDS} s at ${RATE} req/s each, authenticated + JWT, fresh Portico from ${porticoRoot}, load average ${loadavg()[0].toFixed(1)} at the start`,
  '',
  '| setting | achieved req/s | errors | RSS before → last MB | V8 heap committed (used) MB | external MB | rest (native) MB | last-half growth |',
  '|---|---:|---:|---:|---:|---:|---:|---:|',
];
const results = [];
for (const v of variants) {
  const port = await processes.freePort();
  const file = join(dir, 'soak.yaml');
  writeFileSync(
    file,
    porticoConfig.withSessions({ port, upstream, secret, redisUrl: REDIS_URL, keyPrefix, accessLog: true }),
  );
  const r = await soak({
    root: porticoRoot,
    heapSnapshotsTo: heapDir ? { dir: heapDir, stamp: `${v.key}` } : undefined,
    configFile: file,
    port,
    url: `http://127.0.0.1:${port}/jwt/small`,
    headers: { cookie },
    seconds: SECONDS,
    rate: RATE,
    nodeArgs: v.nodeArgs,
    env: v.env,
  });
  const last = r.samples.at(-1)!;
  const native = last.rssMb - (last.heapTotalMb ?? 0) - (last.externalMb ?? 0);
  lines.push(
    `| ${v.name} | ${r.achieved.toFixed(0)} | ${r.errors + r.unfinished} | ${r.startMb.toFixed(0)} → ${r.endMb.toFixed(0)} | ${last.heapTotalMb?.toFixed(0)} (${last.heapUsedMb?.toFixed(0)}) | ${last.externalMb?.toFixed(0)} | ${native.toFixed(0)} | ${r.lastHalfGrowthPct.toFixed(1)} % |`,
  );
  results.push({ variant: v, result: r });
  process.stderr.write(`${lines.at(-1)}\n`);
}
await processes.stop(up);
await redis.quit();
lines.push('', `load average ${loadavg()[0].toFixed(1)} at the end`);
for (const { variant, result } of results)
  lines.push(
    `${variant.key}: RSS every 10 s ${result.samples.map((x) => x.rssMb.toFixed(0)).join(' ')}, peak ${result.peakMb.toFixed(0)}, after the load ${result.afterLoadMb.toFixed(0)} MB${result.heapSnapshots.length ? `; snapshots ${result.heapSnapshots.join(' ')}` : ''}`,
  );
const table = lines.join('\n');
process.stdout.write(`\n${table}\n`);
mkdirSync(join(root, 'bench-results'), { recursive: true });
const out = join(root, 'bench-results', `soak-memory-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(out, JSON.stringify({ seconds: SECONDS, rate: RATE, results, table }, null, 2));
process.stdout.write(`\nwritten to ${out}\n`);
process.exit(0);
