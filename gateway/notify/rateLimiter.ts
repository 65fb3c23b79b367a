import type { RateLimit } from './sinks/types.ts';

/**
 * A sliding-window limiter over several limits at once (Feishu: 100/min and 5/s). `delay()` says
 * how long to wait before the next send; `record()` counts a send (every attempt counts: the
 * platform counts requests, not messages).
 */
export function createRateLimiter(limits: RateLimit[], now: () => number = Date.now) {
  const longest = Math.max(0, ...limits.map((l) => l.perMs));
  const sent: number[] = [];
  return {
    delay(): number {
      const t = now();
      while (sent.length > 0 && sent[0]! <= t - longest) sent.shift();
      let wait = 0;
      for (const l of limits) {
        const inWindow = sent.filter((s) => s > t - l.perMs);
        if (inWindow.length >= l.count)
          wait = Math.max(wait, inWindow[inWindow.length - l.count]! + l.perMs - t);
      }
      return wait;
    },
    record(): void {
      sent.push(now());
    },
  };
}
