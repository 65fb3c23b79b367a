import { queryObjects } from 'node:v8';
import type { EventBus } from '../events.ts';
import { whenQuiet } from './whenQuiet.ts';

/** A class no object is ever made of: what the heap walk below looks for, so it finds nothing. */
class NeverMade {}

/**
 * Once the gateway is up and no request has ended for a second, one garbage collection of the
 * kind V8 runs when memory is short: besides freeing what the start left behind, it shrinks the
 * young generation that loading grew to its full 2 × 4 MB (--max-semi-space-size=4) and hands
 * emptied pages back. V8's memory reducer exists to do this for an idle process, but it reads the
 * allocation rate from the last collections, which are the start's, and judged Portico "high
 * alloc" at every check for as long as it stayed idle (traced over 100 s). The collection holds
 * the process for a few tens of ms, so it waits for a quiet moment and gives up after 30 tries.
 */
export function releaseStartMemory(events: EventBus, log: { debug(o: object, msg: string): void }): void {
  whenQuiet(
    events,
    (quiet) => {
      if (!quiet) return;
      const started = performance.now();
      collectAllGarbage();
      log.debug({ ms: Math.round(performance.now() - started) }, 'memory of the start released');
    },
    { firstAfterMs: 1500, tries: 30 },
  );
}

/**
 * v8.queryObjects walks the heap "after a full garbage collection" (Node's documentation): V8's
 * CollectAllAvailableGarbage, without --expose-gc, a second context or a flag changed at run time.
 * An earlier version did all three, and requests were slower after it (anonymous 0.66× fastify
 * against 1.22×); this one measured no slower than none (A/B, 5 rounds: 1.04× against 0.93×).
 * Node marks the function experimental and says so once on stderr: that notice is held back, as
 * an operator could do nothing about it.
 */
function collectAllGarbage(): void {
  const emitWarning = process.emitWarning;
  process.emitWarning = () => {};
  try {
    queryObjects(NeverMade, { format: 'count' });
  } finally {
    process.emitWarning = emitWarning;
  }
}
