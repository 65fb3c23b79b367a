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
  auditSpoolBytes: true,
  auditEventsDropped: true,
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
  const names = Object.keys(NAMES) as (keyof MetricUpdates)[];
  const loaded = (): Metrics => {
    if (real) return real;
    const m = createMetrics();
    for (const [metric, op, args] of held) call(m, metric, op, args);
    held = [];
    real = m;
    // From now on each update is prom-client's own method: nothing of this wrapper stays on the
    // requests' path (callers hold the objects below, so their methods are replaced in place).
    for (const name of names) {
      const target = m[name] as unknown as Partial<Record<Op, (...a: unknown[]) => void>>;
      const wrapper = updates[name] as unknown as Record<Op, (...a: unknown[]) => void>;
      for (const op of OPS) if (typeof target[op] === 'function') wrapper[op] = target[op].bind(target);
    }
    onLoad(m);
    return m;
  };
  const metric = (name: keyof MetricUpdates) => {
    const hold =
      (op: Op) =>
      (...args: unknown[]): void => {
        // A method taken off its object before the load still lands.
        if (real) {
          call(real, name, op, args);
          return;
        }
        held.push([name, op, args]);
        if (held.length === BACKLOG) onBacklog();
        else if (held.length >= MAX_HELD) loaded();
      };
    return Object.fromEntries(OPS.map((op) => [op, hold(op)]));
  };
  const updates = Object.fromEntries(names.map((n) => [n, metric(n)])) as unknown as MetricUpdates;
  return { ...updates, loaded };
}

const OPS: readonly Op[] = ['inc', 'dec', 'set', 'remove', 'observe'];

function call(m: Metrics, metric: keyof MetricUpdates, op: Op, args: unknown[]): void {
  (m[metric] as unknown as Record<Op, (...a: unknown[]) => void>)[op](...args);
}
