import { parseDuration } from '../config/duration.ts';
import type { AuditConfig } from '../config/opsSchema.ts';
import type { EventData } from './events.ts';

type Failure = { at: number; idp?: string; ip?: string; user?: string };

const top = (xs: (string | undefined)[], n = 5) => {
  const counts = new Map<string, number>();
  for (const x of xs) if (x) counts.set(x, (counts.get(x) ?? 0) + 1);
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, c]) => (c > 1 ? `${k} ×${c}` : k));
};

/**
 * auth.failure_burst: `threshold` failed logins (default 10) within `window` (default 5m), counted
 * across all providers and addresses (a password spray spreads over both). Fires once per window.
 */
export function createFailureBurstDetector(
  settings: () => AuditConfig['loginFailureBurst'],
  onBurst: (data: EventData['auth.failure_burst']) => void,
  now: () => number = Date.now,
) {
  const failures: Failure[] = [];
  let firedAt = Number.NEGATIVE_INFINITY;
  return {
    record(f: Omit<Failure, 'at'>): void {
      const s = settings();
      const threshold = s?.threshold ?? 10;
      const windowMs = parseDuration(s?.window ?? '5m');
      const t = now();
      failures.push({ ...f, at: t });
      while (failures.length > 0 && failures[0]!.at <= t - windowMs) failures.shift();
      if (failures.length > 10_000) failures.splice(0, failures.length - 10_000);
      if (failures.length < threshold || t - firedAt < windowMs) return;
      firedAt = t;
      onBurst({
        count: failures.length,
        windowMs,
        idps: top(failures.map((x) => x.idp)),
        ips: top(failures.map((x) => x.ip)),
        users: top(failures.map((x) => x.user)),
      });
    },
  };
}
