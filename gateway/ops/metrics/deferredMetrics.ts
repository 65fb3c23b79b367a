import type { Metrics } from './metrics.ts';
import { createMetrics } from './metrics.ts';

/** What the gateway records into its metrics: every metric but the registry that reads them out. */
export type MetricUpdates = Omit<Metrics, 'registry'>;

export type DeferredMetrics = MetricUpdates & {
  /** The metrics on prom-client, loaded (and every update so far applied) on the first call. */
  loaded(): Metrics;
};

type Op = 'inc' | 'dec' | 'set' | 'remove' | 'observe';
type Update = [metric: keyof MetricUpdates, op: Op, args: unknown[]];

/** Every metric of metrics.ts (the type makes a new one an error here until it is added). */
const NAMES: Record<keyof MetricUpdates, true> = {
  requests: true,
  requestDuration: true,
  upstreamErrors: true,
  websocketsOpen: true,
  websocketBytes: true,
  logins: true,
  configReloads: true,
  notifications: true,
  upstreamUp: true,
  upstreamCertificateExpiry: true,
};

/** Updates held before prom-client is loaded: at the first many it asks for a quiet moment to load it, at the second it loads at once. */
const BACKLOG = 1_000;
const MAX_HELD = 10_000;

/**
 * Portico's metrics before prom-client is loaded: updates are held, in order, and applied when
 * `loaded()` is first called: by the first scrape, at a quiet moment once 1,000 updates wait
 * (`onBacklog`, see operations.ts), or at once when 10,000 do. prom-client with what it loads
 * (OpenTelemetry's API, node:cluster) took ~80 ms of a pure proxy's start and ~2.5 MB of its idle
 * RSS. The counts are the same; the default metrics (GC, event-loop lag) count from the load.
 */
export function deferredMetrics(
  onLoad: (m: Metrics) => void,
  onBacklog: () => void = () => {},
): DeferredMetrics {
  let real: Metrics | undefined;
  let held: Update[] = [];
  const loaded = (): Metrics => {
    if (real) return real;
    const m = createMetrics();
    for (const [metric, op, args] of held) call(m, metric, op, args);
    held = [];
    real = m;
    onLoad(m);
    return m;
  };
  const metric = (name: keyof MetricUpdates) => {
    const update =
      (op: Op) =>
      (...args: unknown[]): void => {
        if (real) call(real, name, op, args);
        else {
          held.push([name, op, args]);
          if (held.length === BACKLOG) onBacklog();
          else if (held.length >= MAX_HELD) loaded();
        }
      };
    return {
      inc: update('inc'),
      dec: update('dec'),
      set: update('set'),
      remove: update('remove'),
      observe: update('observe'),
    };
  };
  const updates = Object.fromEntries(
    (Object.keys(NAMES) as (keyof MetricUpdates)[]).map((n) => [n, metric(n)]),
  ) as unknown as MetricUpdates;
  return { ...updates, loaded };
}

function call(m: Metrics, metric: keyof MetricUpdates, op: Op, args: unknown[]): void {
  (m[metric] as unknown as Record<Op, (...a: unknown[]) => void>)[op](...args);
}
