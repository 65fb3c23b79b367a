// EXPERIMENT runner, not part of `npm run bench`: Portico from several checkouts (or with several
// access-log settings) against fastify + @fastify/reply-from, one process each, in one run,
// alternating, medians of BENCH_ROUNDS × BENCH_SECONDS, wrk -t1 -cBENCH_CONNECTIONS. For judging a
// hot-path change against main before it lands: the same machine noise falls on every variant.
// Usage: AB_VARIANTS="main=/work/main,new=/work/wt-x" AB_PATHS=/anon/small,/jwt/small \
//        node scripts/bench/experiments/abPortico.ts
// A variant's Node flags and environment: AB_NODE_ARGS='{"new":["--v8-pool-size=1"]}',
// AB_ENV='{"new":{"MALLOC_ARENA_MAX":"2"}}' (the same checkout may run as several variants).
// AB_STDOUT=fifo: Portico's stdout is a named pipe read by `cat` (as containerd gives a container)
// instead of a file.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { benchSession } from '../benchSession.ts';
import { median } from '../median.ts';
import { porticoConfig } from '../porticoConfig.ts';
import { processes } from '../processes.ts';
import { procStats } from '../procStats.ts';
import { fixedRate } from '../fixedRate.ts';
import { wrk } from '../wrk.ts';

const root = join(import.meta.dirname, '../../..');
const env = process.env;
const ROUNDS = Number(env.BENCH_ROUNDS ?? 5);
const SECONDS = Number(env.BENCH_SECONDS ?? 4);
const CONNECTIONS = Number(env.BENCH_CONNECTIONS ?? 32);
const WARMUP = Number(env.BENCH_WARMUP ?? 8);
// AB_RATE: load at this fixed rate instead of saturating (CPU µs/req is then steadier on a shared machine).
const RATE = Number(env.AB_RATE ?? 0);
const PATHS = (env.AB_PATHS ?? '/anon/small').split(',');
const REDIS_URL = env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const variants = (env.AB_VARIANTS ?? `main=${root}`).split(',').map((v) => {
  const [name, checkout, accessLog] = v.split('=');
  return { name: name!, checkout: checkout!, accessLog: accessLog !== 'nolog' };
});
const nodeArgs = JSON.parse(env.AB_NODE_ARGS ?? '{}') as Record<string, string[]>;
const extraEnv = JSON.parse(env.AB_ENV ?? '{}') as Record<string, Record<string, string>>;
const dir = mkdtempSync(join(tmpdir(), 'portico-ab-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const node = process.execPath;
const { child: up, url: upstream } = await processes.startUpstream();
const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
const secret = randomBytes(32).toString('hex');
const keyPrefix = `benchab${Date.now()}:`;
const cookie = await benchSession(redis, { keyPrefix, secret });

type Target = { name: string; base: string; pid: number; fastify: boolean };
/** A log file, or with AB_STDOUT=fifo a named pipe that a `cat` of its own reads into /dev/null. */
function stdoutFor(name: string): string {
  const file = join(dir, `${name}.log`);
  if (env.AB_STDOUT !== 'fifo') return file;
  execFileSync('mkfifo', [file]);
  processes.start('sh', ['-c', `exec cat "${file}" > /dev/null`]);
  return file;
}
const targets: Target[] = [];
{
  const port = await processes.freePort();
  const child = processes.start(
    node,
    [join(root, 'scripts/bench/peers/fastifyReplyFrom.ts'), upstream, String(port)],
    {
      stdout: join(dir, 'fastify.log'),
    },
  );
  await processes.waitFor(`http://127.0.0.1:${port}/dce5/small`);
  targets.push({
    name: 'fastify + reply-from',
    base: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    fastify: true,
  });
}
for (const v of variants) {
  const port = await processes.freePort();
  const file = join(dir, `${v.name}.yaml`);
  writeFileSync(
    file,
    porticoConfig.withSessions({
      port,
      upstream,
      secret,
      redisUrl: REDIS_URL,
      keyPrefix,
      accessLog: v.accessLog,
    }),
  );
  const child = processes.start(
    node,
    [...(nodeArgs[v.name] ?? []), join(v.checkout, 'scripts/portico.js'), 'serve', '--config', file],
    { stdout: stdoutFor(v.name), env: { ...env, ...extraEnv[v.name] } },
  );
  await processes.waitFor(`http://127.0.0.1:${port}/_portico/healthz`);
  targets.push({ name: v.name, base: `http://127.0.0.1:${port}`, pid: child.pid!, fastify: false });
}

/** CPU of the waited-for children (each wrk run), in ms: cutime + cstime of this process. */
function childrenCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13]) + Number(fields[14])) * 10;
}

const lines: string[] = [
  `A/B — ${new Date().toISOString()} — ${ROUNDS} rounds × ${SECONDS} s, wrk -t1 -c${CONNECTIONS}, medians, alternating`,
  '',
  '| path | target | req/s | × fastify | CPU µs/req | best round µs/req | upstream µs/req | load generator µs/req | errors or not sent |',
  '|---|---|---:|---:|---:|---:|---:|---:|---:|',
];
for (const path of PATHS) {
  const urlOf = (t: Target) => (t.fastify ? `${t.base}/dce5/small` : `${t.base}${path}`);
  const headers = path.startsWith('/anon/') ? [] : [`Cookie: ${cookie}`];
  const runs = new Map<
    string,
    { rps: number[]; cpuUs: number[]; upUs: number[]; wrkUs: number[]; errors: number }
  >();
  // V8 keeps optimising for ~6–9 s under load here (BENCHMARKS.md, BENCH_WARMUP): each process is
  // warmed that long on the first path, 1 s on the others.
  for (const t of targets)
    wrk(urlOf(t), { connections: CONNECTIONS, seconds: path === PATHS[0] ? WARMUP : 1, headers });
  for (let round = 1; round <= ROUNDS; round++) {
    for (const t of round % 2 ? targets : [...targets].reverse()) {
      const before = procStats.cpuMs([t.pid]);
      const upBefore = procStats.cpuMs([up.pid!]);
      const wrkBefore = childrenCpuMs();
      const r = RATE
        ? await fixedRate(urlOf(t), {
            rate: RATE,
            seconds: SECONDS,
            connections: CONNECTIONS,
            headers: Object.fromEntries(headers.map((h) => h.split(': ') as [string, string])),
          }).then((f) => ({ rps: f.achieved, requests: f.requests, errors: f.errors + f.dropped, non2xx: 0 }))
        : wrk(urlOf(t), { connections: CONNECTIONS, seconds: SECONDS, headers });
      const cpu = procStats.cpuMs([t.pid]) - before;
      const upCpu = procStats.cpuMs([up.pid!]) - upBefore;
      const wrkCpu = childrenCpuMs() - wrkBefore;
      // At a fixed rate, requests not sent in time (the target fell behind) are counted, not fatal.
      if (r.non2xx > 0 || (!RATE && r.errors > 0))
        throw new Error(`${t.name} ${path}: ${r.errors} errors, ${r.non2xx} non-2xx`);
      const e = runs.get(t.name) ?? { rps: [], cpuUs: [], upUs: [], wrkUs: [], errors: 0 };
      runs.set(t.name, e);
      e.errors += r.errors;
      e.rps.push(r.rps);
      e.cpuUs.push((cpu * 1000) / Math.max(1, r.requests));
      e.upUs.push((upCpu * 1000) / Math.max(1, r.requests));
      e.wrkUs.push((wrkCpu * 1000) / Math.max(1, r.requests));
      process.stderr.write(`${path} round ${round}/${ROUNDS} ${t.name}: ${r.rps.toFixed(0)} req/s\n`);
    }
  }
  const base = median(runs.get(targets[0]!.name)!.rps);
  for (const t of targets) {
    const r = runs.get(t.name)!;
    lines.push(
      `| ${path} | ${t.name} | ${Math.round(median(r.rps))} | ${(median(r.rps) / base).toFixed(2)} | ${median(r.cpuUs).toFixed(0)} | ${Math.min(...r.cpuUs).toFixed(0)} | ${median(r.upUs).toFixed(0)} | ${RATE ? '–' : median(r.wrkUs).toFixed(0)} | ${r.errors} |`,
    );
  }
}
process.stdout.write(`\n${lines.join('\n')}\n`);
await redis.quit();
process.exit(0);
