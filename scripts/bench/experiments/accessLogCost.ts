// EXPERIMENT runner, not part of `npm run bench`: what the access log costs a proxied request.
// Portico checkouts, each three ways — access log to a file (as the bench runs it), to /dev/null,
// and off — against fastify + @fastify/reply-from, one process each, alternating, medians of
// ROUNDS × 4 s of wrk -t1 -c32 on the anonymous route; user and system CPU per request from
// /proc/<pid>/stat. For judging a change to the log's write path: the same machine noise falls on
// every variant of one run (compare within a run, never across runs).
// Usage: ROOTS="main=/work/main,new=/work/wt-x" LABELS=file,devnull,nolog ROUNDS=7 \
//        node scripts/bench/experiments/accessLogCost.ts
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { median } from '../median.ts';
import { porticoConfig } from '../porticoConfig.ts';
import { processes } from '../processes.ts';
import { wrk } from '../wrk.ts';

const root = join(import.meta.dirname, '../../..');
const env = process.env;
const ROUNDS = Number(env.ROUNDS ?? 5);
const ROOTS = (env.ROOTS ?? `main=${root}`).split(',');
const LABELS = (env.LABELS ?? 'file,devnull,nolog').split(',');
const dir = mkdtempSync(join(tmpdir(), 'portico-logcost-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const node = process.execPath;

const { url: upstream } = await processes.startUpstream();

type Target = { name: string; url: string; pid: number };
const targets: Target[] = [];
{
  const port = await processes.freePort();
  const child = processes.start(
    node,
    [join(root, 'scripts/bench/peers/fastifyReplyFrom.ts'), upstream, String(port)],
    { stdout: join(dir, 'fastify.log') },
  );
  await processes.waitFor(`http://127.0.0.1:${port}/dce5/small`);
  targets.push({ name: 'fastify + reply-from', url: `http://127.0.0.1:${port}/dce5/small`, pid: child.pid! });
}
const WAYS = [
  { label: 'file', accessLog: true, stdout: (name: string) => join(dir, `${name}.log`) },
  { label: 'devnull', accessLog: true, stdout: () => 'ignore' },
  { label: 'nolog', accessLog: false, stdout: (name: string) => join(dir, `${name}-nolog.log`) },
].filter((w) => LABELS.includes(w.label));
for (const spec of ROOTS) {
  const [name, checkout] = spec.split('=') as [string, string];
  for (const way of WAYS) {
    const port = await processes.freePort();
    const file = join(dir, `${name}-${way.label}.yaml`);
    const secret = randomBytes(32).toString('hex');
    const redisUrl = env.REDIS_URL ?? 'redis://127.0.0.1:6379';
    const config = { port, upstream, secret, redisUrl, keyPrefix: 'logcost:', accessLog: way.accessLog };
    writeFileSync(file, porticoConfig.withSessions(config));
    const child = processes.start(node, [join(checkout, 'scripts/portico.js'), 'serve', '--config', file], {
      stdout: way.stdout(name),
    });
    await processes.waitFor(`http://127.0.0.1:${port}/_portico/healthz`);
    targets.push({
      name: `${name} ${way.label}`,
      url: `http://127.0.0.1:${port}/anon/small`,
      pid: child.pid!,
    });
  }
}

/** utime and stime of a process, in ms. */
function cpu(pid: number): [number, number] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return [Number(fields[11]) * 10, Number(fields[12]) * 10];
}

const runs = new Map<string, { rps: number[]; user: number[]; sys: number[] }>();
for (const t of targets) wrk(t.url, { connections: 32, seconds: 1 });
for (let round = 0; round < ROUNDS; round++) {
  for (const t of round % 2 ? targets : [...targets].reverse()) {
    const [u0, s0] = cpu(t.pid);
    const r = wrk(t.url, { connections: 32, seconds: 4 });
    const [u1, s1] = cpu(t.pid);
    if (r.errors + r.non2xx > 0) throw new Error(`${t.name}: ${r.errors} errors, ${r.non2xx} non-2xx`);
    const e = runs.get(t.name) ?? { rps: [], user: [], sys: [] };
    runs.set(t.name, e);
    e.rps.push(r.rps);
    e.user.push(((u1 - u0) * 1000) / r.requests);
    e.sys.push(((s1 - s0) * 1000) / r.requests);
    process.stderr.write(`round ${round + 1}/${ROUNDS} ${t.name}: ${r.rps.toFixed(0)} req/s\n`);
  }
}
const base = median(runs.get(targets[0]!.name)!.rps);
const lines = [
  `access-log cost — ${new Date().toISOString()} — ${ROUNDS} rounds × 4 s, wrk -t1 -c32, /anon/small, medians, alternating`,
  '',
  '| target | req/s | × fastify | user µs/req | system µs/req |',
  '|---|---:|---:|---:|---:|',
];
for (const t of targets) {
  const e = runs.get(t.name)!;
  lines.push(
    `| ${t.name} | ${median(e.rps).toFixed(0)} | ${(median(e.rps) / base).toFixed(2)} | ${median(e.user).toFixed(0)} | ${median(e.sys).toFixed(0)} |`,
  );
}
process.stdout.write(`\n${lines.join('\n')}\n`);
process.exit(0);
