// Start-to-first-answer and idle memory of a pure-proxy Portico: spawn `portico serve`, poll the
// proxied route every 5 ms until it answers 200, then read RSS 5 s later and once the process has
// settled (15 s: Portico lets V8's memory reducer give back what the start used once it is idle,
// gateway/ops/releaseStartMemory.ts, and the reducer looks every 8 s).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { porticoConfig } from './porticoConfig.ts';
import { processes } from './processes.ts';
import { procStats } from './procStats.ts';

export async function startup(opts: {
  root: string;
  dir: string;
  upstream: string;
  starts: number;
  /** RSS is read this long after the first answer (`earlyRssKb`)… */
  earlyMs: number;
  /** …and this long after it (`idleRssKb`): V8's memory reducer first looks ~8 s after the start. */
  settleMs: number;
}): Promise<{ startMs: number[]; startCpuMs: number[]; earlyRssKb: number[]; idleRssKb: number[] }> {
  const startMs: number[] = [];
  // CPU the process used until its first answer: on a shared machine the wall time mostly says
  // how long it waited for a core; this says what the start itself costs.
  const startCpuMs: number[] = [];
  const earlyRssKb: number[] = [];
  const idleRssKb: number[] = [];
  for (let i = 0; i < opts.starts; i++) {
    const port = await processes.freePort();
    const file = join(opts.dir, `pure-proxy-${i}.yaml`);
    writeFileSync(file, porticoConfig.pureProxy({ port, upstream: opts.upstream, logLevel: 'info' }));
    const t0 = performance.now();
    // As the image's ENTRYPOINT starts it: the launcher's V8 flag on the command line, so it does
    // not start itself again (`node scripts/portico.js` alone takes ~60 ms more: BENCHMARKS.md).
    const child = processes.start(process.execPath, [
      '--max-semi-space-size=4',
      join(opts.root, 'scripts/portico.js'),
      'serve',
      '--config',
      file,
    ]);
    await processes.waitFor(`http://127.0.0.1:${port}/dce5/small`, { everyMs: 5 });
    startMs.push(performance.now() - t0);
    startCpuMs.push(procStats.cpuMs([child.pid!]));
    await sleep(opts.earlyMs);
    earlyRssKb.push(procStats.rssKb([child.pid!]));
    await sleep(opts.settleMs - opts.earlyMs);
    idleRssKb.push(procStats.rssKb([child.pid!]));
    await processes.stop(child);
  }
  return { startMs, startCpuMs, earlyRssKb, idleRssKb };
}
