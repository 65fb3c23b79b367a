import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Logger } from 'pino';

/** A second counts as idle below this much CPU (0.5 % of a core): no traffic, or a trickle. */
const IDLE_CPU_US_PER_S = 5_000;
/** Only the start's garbage is worth this: a process busy from its start has other memory to hold. */
const WITHIN_MS = 60_000;
/** V8's memory reducer looks every 8 s (`--gc-memory-reducer-start-delay-ms`); two looks are enough. */
const WATCH_MS = 20_000;
/** What counts as given back, for the log line. */
const RELEASED_BYTES = 1024 * 1024;

type MinorGc = (o: { type: 'minor' }) => void;

/**
 * Lets V8 give back the memory the start used, when the new process is first idle.
 *
 * Loading the modules and compiling the config grow V8's young generation to its cap (2 × 4 MB)
 * and leave old-space pages half empty. V8's memory reducer exists to shrink them once a process
 * falls idle, but it judges idleness by the allocation rate it samples at each collection, and an
 * idle Node process makes none: `--trace-memory-reducer` printed "high alloc" every 8 s for ever and
 * a pure proxy stayed at ~84 MB RSS. One young-generation collection (~1 ms) on each of the first
 * two idle seconds gives it those samples; its next look finds the rate low and runs its own
 * memory-reducing collections: ~76 MB. Those are V8's choice, with its own limits; nothing
 * here forces a full collection — a forced 'last-resort' one reached 75 MB too but cost 7–17 % more
 * CPU per request afterwards in an A/B; this measured the same as without (BENCHMARKS.md).
 */
export function releaseStartMemoryWhenIdle(log: Logger): void {
  const startedAt = Date.now();
  let rssBefore = 0;
  let last = process.cpuUsage();
  let samples = 0;
  const timer = setInterval(() => {
    const now = process.cpuUsage();
    const used = now.user - last.user + (now.system - last.system);
    last = now;
    if (used < IDLE_CPU_US_PER_S) {
      if (samples === 0) rssBefore = rss();
      if (minorGc()) samples++;
    }
    if (samples >= 2) {
      clearInterval(timer);
      reportRelease(log, rssBefore);
    } else if (Date.now() - startedAt > WITHIN_MS) clearInterval(timer);
  }, 1000);
  timer.unref();
}

/**
 * The process's RSS, or 0 when it cannot be read: libuv opens /proc/self/stat for it, which fails
 * with EMFILE when every descriptor is taken — a flood of connections must not end the process
 * through a timer that only reports.
 */
function rss(): number {
  try {
    return process.memoryUsage.rss();
  } catch {
    return 0;
  }
}

/** Says once what V8 gave back, when it has (or that it did not, at debug level). */
function reportRelease(log: Logger, before: number): void {
  const since = Date.now();
  const watch = setInterval(() => {
    const now = rss();
    if (before - now >= RELEASED_BYTES) {
      clearInterval(watch);
      log.info({ rssBeforeMb: mb(before), rssAfterMb: mb(now) }, 'start memory released');
    } else if (Date.now() - since > WATCH_MS) {
      clearInterval(watch);
      log.debug({ rssBeforeMb: mb(before), rssAfterMb: mb(now) }, 'start memory not released');
    }
  }, 1000);
  watch.unref();
}

/** One young-generation collection; false when V8 does not offer gc() (then nothing is done). */
function minorGc(): boolean {
  try {
    // The documented way to reach V8's gc() without starting Node with --expose-gc: the flag is
    // read when a context is made, so only this throwaway context has it.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as MinorGc;
    setFlagsFromString('--no-expose-gc');
    gc({ type: 'minor' });
    return true;
  } catch {
    return false;
  }
}

const mb = (bytes: number) => Math.round(bytes / 104857.6) / 10;
