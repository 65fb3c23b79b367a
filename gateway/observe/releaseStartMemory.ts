import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { EventBus } from '../events.ts';
import { whenQuiet } from './whenQuiet.ts';

type Gc = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;

/**
 * Once the gateway is up and no request has ended for a second, one garbage collection of the
 * kind V8 runs when memory is short: besides freeing what the start left behind, it shrinks the
 * young generation that loading grew to its full 2 × 4 MB (--max-semi-space-size=4) and hands
 * emptied pages back. Idle RSS of a pure proxy 89 → 80 MB. V8's memory reducer exists to do this
 * for an idle process, but it reads the allocation rate from the last collections, which are the
 * start's, and judged Portico "high alloc" at every check for as long as it stayed idle (traced
 * over 100 s). The collection holds the process for a few tens of ms, so it waits for a quiet
 * moment and gives up after 30 tries: a busy gateway collects as usual. Traffic grows the young
 * generation back as it needs.
 */
export function releaseStartMemory(events: EventBus, log: { debug(o: object, msg: string): void }): void {
  whenQuiet(
    events,
    (quiet) => {
      if (!quiet) return;
      const started = performance.now();
      fullCollection();
      log.debug({ ms: Math.round(performance.now() - started) }, 'memory of the start released');
    },
    { firstAfterMs: 1500, tries: 30 },
  );
}

/** `gc()` without --expose-gc on the command line, which would also put it on every context's globalThis. */
function fullCollection(): void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as Gc;
  setFlagsFromString('--no-expose-gc');
  gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
}
