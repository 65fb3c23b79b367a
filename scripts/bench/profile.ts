// A CPU profile of one Portico process under wrk, per route (anonymous, authenticated,
// authenticated + JWT) and for nginx's forward-auth check, summarised bottom-up by self time. Not part of `npm run bench`: the
// profiler itself costs throughput. Writes the .cpuprofile files (open them in Chrome DevTools)
// and a summary to bench-results/profile-<date>/.
// Usage: node scripts/bench/profile.ts   (BENCH_PROFILE_SECONDS, default 10; BENCH_CONNECTIONS, 32)
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { benchSession } from './benchSession.ts';
import { porticoConfig } from './porticoConfig.ts';
import { processes } from './processes.ts';
import { wrk } from './wrk.ts';

const root = join(import.meta.dirname, '../..');
const SECONDS = Number(process.env.BENCH_PROFILE_SECONDS ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
const outDir = join(root, 'bench-results', `profile-${stamp}`);
mkdirSync(outDir, { recursive: true });
const dir = mkdtempSync(join(tmpdir(), 'portico-profile-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

type Node = {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
};
type Profile = { nodes: Node[]; samples: number[]; timeDeltas: number[] };

/** Self time per function (bottom-up), and per where the code lives. */
function summarise(
  profile: Profile,
  window: number,
  top = 25,
): { total: number; functions: string[]; places: string[] } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  // Only the measured load: the last `window` µs before the process was stopped (start-up, module
  // loading and the warm-up run are left out).
  const at: number[] = [];
  let t = 0;
  for (const dt of profile.timeDeltas) at.push((t += dt));
  const from = t - window;
  for (let i = 0; i < profile.samples.length; i++) {
    if (at[i]! < from) continue;
    const dt = profile.timeDeltas[i + 1] ?? 0;
    self.set(profile.samples[i]!, (self.get(profile.samples[i]!) ?? 0) + dt);
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const fns = new Map<string, number>();
  const places = new Map<string, number>();
  for (const [id, us] of self) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    const file = url.replace(`file://${root}/`, '');
    const key = `${functionName || '(anonymous)'} ${file ? `${file}:${lineNumber + 1}` : ''}`.trim();
    fns.set(key, (fns.get(key) ?? 0) + us);
    const place = !url
      ? functionName.startsWith('(')
        ? functionName
        : '(native: bindings and V8 builtins)'
      : url.startsWith('node:')
        ? `node: ${url.slice(5).split('/')[0]}`
        : file.includes('node_modules/')
          ? `node_modules/${file
              .split('node_modules/')
              .at(-1)!
              .split('/')
              .slice(0, file.includes('node_modules/@') ? 2 : 1)
              .join('/')}`
          : file.startsWith('gateway/')
            ? `gateway/${file.split('/')[1]}`
            : file;
    places.set(place, (places.get(place) ?? 0) + us);
  }
  const fmt = (m: Map<string, number>, n: number) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([k, us]) => `| ${((us / total) * 100).toFixed(1)} % | \`${k}\` |`);
  return { total, functions: fmt(fns, top), places: fmt(places, 15) };
}

const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
const { child: up, url: upstream } = await processes.startUpstream();
const secret = randomBytes(32).toString('hex');
const keyPrefix = `benchprof${Date.now()}:`;
const cookie = await benchSession(redis, { keyPrefix, secret });
const report: string[] = [
  `CPU profiles of one Portico process under wrk -t1 -c${CONNECTIONS} for ${SECONDS} s each — ${new Date().toISOString()}`,
];

// The last: the check nginx's auth_request sends for a request to /dce5/ (deploy/nginx/).
const CHECK = ['X-Original-URI: /dce5/small', 'X-Original-Method: GET', 'X-Forwarded-Proto: http'];
for (const [label, path, extra] of [
  ['anonymous', '/anon/small', []],
  ['authenticated', '/auth/small', []],
  ['authenticated + JWT', '/jwt/small', []],
  ['forward-auth check', '/_portico/auth', CHECK],
] as const) {
  const port = await processes.freePort();
  const file = join(dir, `${label.replace(/\W+/g, '-')}.yaml`);
  writeFileSync(
    file,
    porticoConfig.withSessions({ port, upstream, secret, redisUrl: REDIS_URL, keyPrefix, accessLog: true }),
  );
  const profDir = join(dir, label.replace(/\W+/g, '-'));
  const child = processes.start(
    process.execPath,
    ['--cpu-prof', `--cpu-prof-dir=${profDir}`, join(root, 'scripts/portico.js'), 'serve', '--config', file],
    { stdout: join(dir, 'access.log') },
  );
  await processes.waitFor(`http://127.0.0.1:${port}/_portico/healthz`);
  const headers = path === '/anon/small' ? [] : [`Cookie: ${cookie}`, ...extra];
  wrk(`http://127.0.0.1:${port}${path}`, { connections: CONNECTIONS, seconds: 2, headers });
  const r = wrk(`http://127.0.0.1:${port}${path}`, { connections: CONNECTIONS, seconds: SECONDS, headers });
  await processes.stop(child);
  // scripts/portico.js starts again through execve when a V8 flag it needs is missing; the image it
  // replaced may leave a profile of its own few milliseconds: the run's profile is the largest.
  const [prof] = readdirSync(profDir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .sort((a, b) => statSync(join(profDir, b)).size - statSync(join(profDir, a)).size);
  if (!prof) throw new Error(`no profile written for ${label}`);
  const text = readFileSync(join(profDir, prof), 'utf8');
  const target = join(outDir, `${label.replace(/\W+/g, '-')}.cpuprofile`);
  writeFileSync(target, text);
  const s = summarise(JSON.parse(text) as Profile, SECONDS * 1e6);
  report.push(
    '',
    `### ${label} (${path}): ${Math.round(r.rps)} req/s under the profiler, ${(s.total / 1e6).toFixed(1)} s of the load window sampled — ${target.slice(root.length + 1)}`,
    '',
    '| self | where |',
    '|---:|---|',
    ...s.places,
    '',
    '| self | function (bottom-up) |',
    '|---:|---|',
    ...s.functions,
  );
}
await processes.stop(up);
await redis.quit();
const text = report.join('\n');
writeFileSync(join(outDir, 'summary.md'), `${text}\n`);
process.stdout.write(`${text}\n\nwritten to ${outDir}\n`);
process.exit(0);
