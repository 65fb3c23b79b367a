import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Logger } from 'pino';
import type { NotificationSinkConfig } from '../config/opsSchema.ts';
import type { AlertEvent, NewEvent } from './events.ts';
import type { DeliveryResult, SinkStats, SinkWorker } from './sinkWorker.ts';

const require = createRequire(import.meta.url);

/**
 * The delivery worker and the chat protocols (ten modules), loaded when `notifications:` first
 * lists a sink, at start or on the reload that adds it: a gateway without alerts never needs them.
 */
function sinkCode() {
  const { createSinkWorker } = require('./sinkWorker.ts') as typeof import('./sinkWorker.ts');
  const { PROTOCOLS } = require('./sinks/index.ts') as typeof import('./sinks/index.ts');
  return { createSinkWorker, PROTOCOLS };
}

export type Notifier = {
  /** Hands an event to every sink that wants it; returns at once (delivery is in the background). */
  emit(event: NewEvent): void;
  /** Rebuilds the sinks when `notifications:` changed (config reload); unchanged sinks keep their state. */
  reconfigure(): void;
  stats(): SinkStats[];
  close(graceMs?: number): Promise<void>;
};

/** Sink labels for metrics and logs: `id`, else the type (`dingtalk`, then `dingtalk-2`, …). */
export function sinkNames(sinks: NotificationSinkConfig[]): string[] {
  const seen = new Map<string, number>();
  return sinks.map((s) => {
    const base = s.id ?? s.type;
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    return n === 1 ? base : `${base}-${n}`;
  });
}

export function fingerprintOf(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}

/**
 * The alert bus: events in, one worker per configured sink out. Secrets come only from the
 * config (which takes them from the environment); nothing here logs a webhook URL or a secret.
 */
export function createNotifier(o: {
  sinks: () => NotificationSinkConfig[] | undefined;
  source: () => string;
  log: Logger;
  count?: (sink: string, result: DeliveryResult) => void;
}): Notifier {
  let workers = new Map<string, SinkWorker>();
  const retiring = new Set<Promise<void>>();

  const build = () => {
    const list = o.sinks() ?? [];
    const code = list.length > 0 ? sinkCode() : undefined;
    const names = sinkNames(list);
    const next = new Map<string, SinkWorker>();
    list.forEach((config, i) => {
      const key = `${names[i]}|${JSON.stringify(config)}`;
      const existing = workers.get(key);
      if (existing) {
        next.set(key, existing);
        return;
      }
      const name = names[i]!;
      next.set(
        key,
        code!.createSinkWorker({
          name,
          config,
          protocol: code!.PROTOCOLS[config.type],
          log: o.log,
          count: (result) => o.count?.(name, result),
        }),
      );
    });
    for (const [key, w] of workers) {
      if (next.has(key)) continue;
      const p = w.close(5000).finally(() => retiring.delete(p));
      retiring.add(p);
    }
    workers = next;
  };
  build();

  return {
    emit(e) {
      if (workers.size === 0) return;
      const event = {
        ...e,
        fingerprint: e.fingerprint ?? fingerprintOf({ type: e.type, data: e.data }),
        time: e.time ?? new Date(),
        source: o.source(),
      } as AlertEvent;
      for (const w of workers.values()) w.offer(event);
    },
    reconfigure: build,
    stats: () => [...workers.values()].map((w) => w.stats()),
    async close(graceMs = 2000) {
      const all = [...workers.values()].map((w) => w.close(graceMs));
      workers = new Map();
      await Promise.all([...all, ...retiring]);
    },
  };
}
