// EXPERIMENT, not part of `npm run bench`: Portico anonymous (one process, access log on) under wrk
// with several --max-semi-space-size values, targets alternating: req/s, CPU µs/request, RSS after.
// Usage: node scripts/bench/experiments/semiSpace.ts   (BENCH_ROUNDS 2, BENCH_SECONDS 4, SEMI "0,1,2,4"; 0 = V8's default)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { median } from '../median.ts';
import { porticoConfig } from '../porticoConfig.ts';
import { processes } from '../processes.ts';
import { procStats } from '../procStats.ts';
import { wrk } from '../wrk.ts';

const root = join(import.meta.dirname, '../../..');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const SEMI = (process.env.SEMI ?? '0,1,2,4').split(',').map(Number);
const dir = mkdtempSync(join(tmpdir(), 'portico-semi-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const { child: up, url: upstream } = await processes.startUpstream();
const load0 = loadavg()[0];
const results = new Map<number, { rps: number[]; us: number[]; rss: number[] }>();
for (let round = 0; round < ROUNDS; round++) {
  for (const semi of SEMI) {
    const port = await processes.freePort();
    const file = join(dir, `p${semi}.yaml`);
    writeFileSync(file, porticoConfig.pureProxy({ port, upstream, logLevel: 'info' }));
    // 0: V8's own default (16 MB), given explicitly as the launcher sets 2 MB otherwise.
    const flags = [`--max-semi-space-size=${semi || 16}`];
    const child = processes.start(
      process.execPath,
      [...flags, join(root, 'scripts/portico.js'), 'serve', '--config', file],
      {
        stdout: join(dir, 'access.log'),
      },
    );
    const url = `http://127.0.0.1:${port}/dce5/small`;
    await processes.waitFor(url);
    wrk(url, { connections: 32, seconds: 1 });
    const cpu0 = procStats.cpuMs([child.pid!]);
    const r = wrk(url, { connections: 32, seconds: SECONDS });
    const cpu = procStats.cpuMs([child.pid!]) - cpu0;
    const e = results.get(semi) ?? { rps: [], us: [], rss: [] };
    e.rps.push(r.rps);
    e.us.push((cpu * 1000) / Math.max(1, r.requests));
    e.rss.push(procStats.rssKb([child.pid!]) / 1024);
    results.set(semi, e);
    await processes.stop(child);
  }
}
await processes.stop(up);
process.stdout.write(
  `load ${load0.toFixed(1)} → ${loadavg()[0].toFixed(1)}\n| semi-space MB | req/s | CPU µs/req | RSS after MB |\n|---|---:|---:|---:|\n`,
);
for (const [semi, e] of results)
  process.stdout.write(
    `| ${semi || 'default'} | ${median(e.rps).toFixed(0)} | ${median(e.us).toFixed(0)} | ${median(e.rss).toFixed(0)} |\n`,
  );
process.exit(0);
