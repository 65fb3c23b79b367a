import type { EventBus } from '../events.ts';

/**
 * Runs `run` once, at the first check (every second, from `firstAfterMs`) that finds no request
 * ended in the last second: for one-off work after the start that would hold up requests. After
 * `tries` busy checks it runs with `quiet: false` (the caller decides whether to go ahead).
 * Returns a function that cancels it.
 */
export function whenQuiet(
  events: EventBus,
  run: (quiet: boolean) => void,
  o: { firstAfterMs: number; tries: number },
): () => void {
  let lastRequestAt = performance.now();
  const stopWatching = events.on('request', () => {
    lastRequestAt = performance.now();
  });
  let tries = 0;
  let timer: NodeJS.Timeout | undefined;
  const check = () => {
    const quiet = performance.now() - lastRequestAt >= 1000;
    if (!quiet && ++tries < o.tries) {
      timer = setTimeout(check, 1000).unref();
      return;
    }
    stopWatching();
    run(quiet);
  };
  timer = setTimeout(check, o.firstAfterMs).unref();
  return () => {
    clearTimeout(timer);
    stopWatching();
  };
}
