import { queryObjects } from 'node:v8';
import type { EventBus } from '../events.ts';
import { whenQuiet } from './whenQuiet.ts';

/** A class no object is ever made of: what the heap walk below looks for, so it finds nothing. */
class NeverMade {}

/** Requests after which the gateway counts as in use: its young generation is then traffic's. */
const IN_USE_AFTER = 100;

/**
 * Once the gateway is up and no request has ended for a second, one garbage collection of the
 * kind V8 runs when memory is short: besides freeing what the start left behind, it shrinks the
 * young generation that loading grew to its full 2 × 4 MB (--max-semi-space-size=4) and hands
 * emptied pages back. V8's memory reducer exists to do this for an idle process, but it reads the
 * allocation rate from the last collections, which are the start's, and judged Portico "high
 * alloc" at every check for as long as it stayed idle (traced over 100 s). The collection holds
 * the process for a few tens of ms, so it waits for a quiet moment and gives up after 30 tries.
 *
 * Only before the gateway has served traffic (IN_USE_AFTER requests): run after a warm-up, the
 * same collection left requests slower for the rest of the benchmark (anonymous 0.86× fastify,
 * 5 rounds, against 1.50× in the run before without it), where run before the load it measured no
 * slower (A/B: 1.04× against 0.93×). A young generation shrunk under steady traffic, whose
 * objects mostly die young, is not grown back: a short-lived request's objects then get promoted
 * and collected with the old ones.
 */
export function releaseStartMemory(events: EventBus, log: { debug(o: object, msg: string): void }): void {
  let served = 0;
  const cancel = whenQuiet(
    events,
    (quiet) => {
      stopCounting();
      if (!quiet || served >= IN_USE_AFTER) return;
      const started = performance.now();
      collectAllGarbage();
      log.debug({ ms: Math.round(performance.now() - started) }, 'memory of the start released');
    },
    { firstAfterMs: 1500, tries: 30 },
  );
  const stopCounting = events.on('request', () => {
    if (++served < IN_USE_AFTER) return;
    stopCounting();
    cancel();
  });
}

/**
 * v8.queryObjects walks the heap "after a full garbage collection" (Node's documentation): V8's
 * CollectAllAvailableGarbage, without --expose-gc, a second context or a flag changed at run time.
 * An earlier version did all three, and requests were slower after it (anonymous 0.66× fastify
 * against 1.22×). Node marks the function experimental and says so once on stderr: that notice is held back, as
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
