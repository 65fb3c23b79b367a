// A memory soak: a fresh one-process Portico takes a fixed request rate on the authenticated route
// for N seconds while its RSS is read every 10 s. With heap snapshots on, Node writes one before
// the load and one after it (--heapsnapshot-signal), so what holds the memory can be diffed.
import { readdirSync, renameSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fixedRate } from './fixedRate.ts';
import { processes } from './processes.ts';
import { procStats } from './procStats.ts';

type Sample = { t: number; rssMb: number; heapTotalMb?: number; heapUsedMb?: number; externalMb?: number };

/** Portico's process metrics (prom-client defaults; /_portico/metrics is open without a token). */
async function v8Memory(port: number): Promise<Omit<Sample, 't' | 'rssMb'>> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/_portico/metrics`)).text();
    const mb = (name: string) => {
      const m = new RegExp(`^portico_${name} ([\\d.e+]+)$`, 'm').exec(text);
      return m ? Number(m[1]) / 1024 / 1024 : undefined;
    };
    return {
      heapTotalMb: mb('nodejs_heap_size_total_bytes'),
      heapUsedMb: mb('nodejs_heap_size_used_bytes'),
      externalMb: mb('nodejs_external_memory_bytes'),
    };
  } catch {
    return {};
  }
}

export type SoakResult = {
  seconds: number;
  rate: number;
  achieved: number;
  requests: number;
  errors: number;
  dropped: number;
  unfinished: number;
  p99: number;
  /**
   * RSS before the load, then every 10 s under it, beside what Portico's own metrics say of V8's
   * heap (committed and used) and of memory held outside it by JS objects (external): what RSS
   * holds beyond those is native (malloc) memory.
   */
  samples: Sample[];
  startMb: number;
  endMb: number;
  peakMb: number;
  /** RSS once the load stopped (not one of the samples). */
  afterLoadMb: number;
  /** Growth between the sample at half time and the last one under load, in percent. */
  lastHalfGrowthPct: number;
  heapSnapshots: string[];
};

export async function soak(opts: {
  root: string;
  configFile: string;
  port: number;
  url: string;
  headers: Record<string, string>;
  seconds: number;
  rate: number;
  heapSnapshotsTo?: { dir: string; stamp: string };
  /** Extra node flags and environment for the Portico process (memory experiments). */
  nodeArgs?: string[];
  env?: Record<string, string>;
}): Promise<SoakResult> {
  const heap = opts.heapSnapshotsTo;
  const child = processes.start(
    process.execPath,
    [
      ...(heap ? ['--heapsnapshot-signal=SIGUSR2'] : []),
      ...(opts.nodeArgs ?? []),
      join(opts.root, 'scripts/portico.js'),
      'serve',
      '--config',
      opts.configFile,
    ],
    // Snapshots land in the working directory; the access log (a gigabyte at 6k req/s for 10 min)
    // goes nowhere.
    { cwd: heap?.dir, env: opts.env ? { ...process.env, ...opts.env } : undefined },
  );
  const health = `http://127.0.0.1:${opts.port}/_portico/healthz`;
  await processes.waitFor(health);
  const check = await fetch(opts.url, { headers: opts.headers });
  await check.arrayBuffer();
  if (check.status !== 200) throw new Error(`soak: the authenticated route answered ${check.status}`);

  const snapshots: string[] = [];
  const snapshot = async (label: string) => {
    if (!heap) return;
    const before = new Set(readdirSync(heap.dir));
    child.kill('SIGUSR2');
    let file: string | undefined;
    for (let i = 0; i < 600 && !file; i++) {
      file = readdirSync(heap.dir).find((f) => f.endsWith('.heapsnapshot') && !before.has(f));
      if (!file) await sleep(100);
    }
    if (!file) throw new Error('soak: no heap snapshot appeared');
    // The snapshot is written on the main thread: the process answers again once it is done.
    await processes.waitFor(health, { timeoutMs: 120_000 });
    let size = -1;
    while (statSync(join(heap.dir, file)).size !== size) {
      size = statSync(join(heap.dir, file)).size;
      await sleep(500);
    }
    const target = join(heap.dir, `soak-${heap.stamp}-${label}.heapsnapshot`);
    renameSync(join(heap.dir, file), target);
    snapshots.push(target);
  };

  await snapshot('before');
  const samples: Sample[] = [
    { t: 0, rssMb: procStats.rssKb([child.pid!]) / 1024, ...(await v8Memory(opts.port)) },
  ];
  const t0 = Date.now();
  const timer = setInterval(async () => {
    const t = Math.round((Date.now() - t0) / 1000);
    const rssMb = procStats.rssKb([child.pid!]) / 1024;
    const v8 = await v8Memory(opts.port);
    samples.push({ t, rssMb, ...v8 });
    process.stderr.write(
      `soak ${t} s: RSS ${rssMb.toFixed(0)} MB, V8 heap ${v8.heapTotalMb?.toFixed(0)} MB (used ${v8.heapUsedMb?.toFixed(0)}), external ${v8.externalMb?.toFixed(0)} MB\n`,
    );
  }, 10_000);
  const load = await fixedRate(opts.url, {
    rate: opts.rate,
    seconds: opts.seconds,
    connections: 32,
    headers: opts.headers,
    exact: true,
  });
  clearInterval(timer);
  // Read once the load has stopped: what the process gives back when idle again.
  const afterLoadMb = procStats.rssKb([child.pid!]) / 1024;
  await snapshot('after');
  await processes.stop(child);

  const under = samples.slice(1);
  const mid = under.reduce((best, s) =>
    Math.abs(s.t - opts.seconds / 2) < Math.abs(best.t - opts.seconds / 2) ? s : best,
  );
  const end = samples.at(-1)!;
  return {
    seconds: opts.seconds,
    rate: opts.rate,
    achieved: load.achieved,
    requests: load.requests,
    errors: load.errors,
    dropped: load.dropped,
    unfinished: load.unfinished,
    p99: load.p99,
    samples,
    startMb: samples[0]!.rssMb,
    endMb: end.rssMb,
    afterLoadMb,
    peakMb: Math.max(...samples.map((s) => s.rssMb)),
    lastHalfGrowthPct: ((end.rssMb - mid.rssMb) / mid.rssMb) * 100,
    heapSnapshots: snapshots,
  };
}
