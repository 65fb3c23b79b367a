// EXPERIMENT, not part of `npm run bench`: the soak of the bench (a fresh Portico, authenticated +
// JWT route, fixed rate, RSS and V8 heap every 10 s) with Node and allocator settings that bound
// memory, one after the other, to see which part of the RSS each one moves.
// Usage: node scripts/bench/experiments/soakMemory.ts   (BENCH_SOAK_SECONDS, default 120; BENCH_SOAK_RATE, 3000)
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { benchSession } from '../benchSession.ts';
import { porticoConfig } from '../porticoConfig.ts';
import { processes } from '../processes.ts';
import { soak } from '../soak.ts';

const root = join(import.meta.dirname, '../../..');
const SECONDS = Number(process.env.BENCH_SOAK_SECONDS ?? 120);
const RATE = Number(process.env.BENCH_SOAK_RATE ?? 3000);
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const dir = mkdtempSync(join(tmpdir(), 'portico-soak-memory-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const variants: { name: string; nodeArgs?: string[]; env?: Record<string, string> }[] = [
  { name: 'defaults' },
  {
    name: '--max-semi-space-size=4 (young generation ≤ 4 MB per semi-space)',
    nodeArgs: ['--max-semi-space-size=4'],
  },
  { name: 'MALLOC_ARENA_MAX=2 (glibc: two malloc arenas)', env: { MALLOC_ARENA_MAX: '2' } },
  {
    name: 'both',
    nodeArgs: ['--max-semi-space-size=4'],
    env: { MALLOC_ARENA_MAX: '2' },
  },
];

const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
const up = processes.start(process.execPath, [join(root, 'scripts/bench/upstream.ts')], { stdout: 'pipe' });
const [portLine] = (await once(up.stdout!, 'data')) as [Buffer];
const upstream = `http://127.0.0.1:${Number(String(portLine).trim())}`;
const secret = randomBytes(32).toString('hex');
const keyPrefix = `benchsoak${Date.now()}:`;
const cookie = await benchSession(redis, { keyPrefix, secret });
const lines = [
  `Soak memory experiments — ${new Date().toISOString()} — ${SECONDS} s at ${RATE} req/s each, authenticated + JWT, fresh Portico`,
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
    root,
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
const table = lines.join('\n');
process.stdout.write(`\n${table}\n`);
mkdirSync(join(root, 'bench-results'), { recursive: true });
const out = join(root, 'bench-results', `soak-memory-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(out, JSON.stringify({ seconds: SECONDS, rate: RATE, results, table }, null, 2));
process.stdout.write(`\nwritten to ${out}\n`);
process.exit(0);
