/**
 * Fixed one-minute windows per key (an API key id, an IP). Small and exact enough for an admin
 * API that sees a handful of requests a minute; expired windows are swept as the map grows.
 */
export type RateLimiter = {
  /** Counts one hit; answers the seconds to wait when `limit` is already used up. */
  take(key: string, limit: number): number | undefined;
  /** The seconds to wait when `limit` is used up, without counting a hit. */
  blocked(key: string, limit: number): number | undefined;
};

export function createRateLimiter(windowMs = 60_000, now: () => number = Date.now): RateLimiter {
  const windows = new Map<string, { count: number; resetAt: number }>();
  const current = (key: string) => {
    const t = now();
    let w = windows.get(key);
    if (!w || w.resetAt <= t) {
      if (windows.size > 10_000) for (const [k, v] of windows) if (v.resetAt <= t) windows.delete(k);
      w = { count: 0, resetAt: t + windowMs };
      windows.set(key, w);
    }
    return w;
  };
  const wait = (w: { resetAt: number }) => Math.max(1, Math.ceil((w.resetAt - now()) / 1000));
  return {
    take(key, limit) {
      const w = current(key);
      if (w.count >= limit) return wait(w);
      w.count++;
      return undefined;
    },
    blocked(key, limit) {
      const w = current(key);
      return w.count >= limit ? wait(w) : undefined;
    },
  };
}
