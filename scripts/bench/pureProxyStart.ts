// The pure-proxy piece of `npm run bench` on its own: spawn `portico serve` with one route and no
// identity providers, session store or storage, time the first proxied 200, read RSS after 5 s.
// Usage: node scripts/bench/pureProxyStart.ts   (BENCH_STARTS, default 5; PORTICO_ROOT=/other/checkout
// times another Portico with this harness)
import { loadavg, tmpdir } from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { median } from './median.ts';
import { processes } from './processes.ts';
import { startup } from './startup.ts';

const root = join(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'portico-start-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
const { child: up, url: upstream } = await processes.startUpstream();
const load = loadavg()[0].toFixed(1);
const r = await startup({
  root: process.env.PORTICO_ROOT ?? root,
  dir,
  upstream,
  starts: Number(process.env.BENCH_STARTS ?? 5),
  earlyMs: 5000,
  settleMs: 15_000,
});
await processes.stop(up);
const early = r.earlyRssKb.map((kb) => kb / 1024);
const mb = r.idleRssKb.map((kb) => kb / 1024);
process.stdout.write(
  `load ${load} → ${loadavg()[0].toFixed(1)}\n` +
    `start to first 200: ${r.startMs.map((m) => m.toFixed(0)).join(' / ')} ms, median ${median(r.startMs).toFixed(0)} ms\n` +
    `CPU of the process until then: ${r.startCpuMs.join(' / ')} ms, median ${median(r.startCpuMs).toFixed(0)} ms\n` +
    `RSS 5 s later: ${early.map((m) => m.toFixed(0)).join(' / ')} MB, median ${median(early).toFixed(0)} MB\n` +
    `idle RSS 15 s later: ${mb.map((m) => m.toFixed(0)).join(' / ')} MB, median ${median(mb).toFixed(0)} MB\n`,
);
process.exit(0);
