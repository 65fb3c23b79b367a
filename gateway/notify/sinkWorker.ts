import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { parseDuration } from '../config/duration.ts';
import type { NotificationSinkConfig } from '../config/opsSchema.ts';
import type { AlertEvent } from './events.ts';
import { createRateLimiter } from './rateLimiter.ts';
import type { SinkProtocol, Verdict } from './sinks/types.ts';
import { compose, type Lang } from './templates.ts';

export type DeliveryResult = 'ok' | 'failed' | 'retried' | 'dropped' | 'suppressed';

export type SinkStats = {
  sink: string;
  type: string;
  queued: number;
  delivered: number;
  failed: number;
  lastError?: string;
  lastDeliveredAt?: string;
};

export type SinkWorker = {
  readonly name: string;
  /** Takes an event; never waits and never throws (the caller may be on a hot path). */
  offer(event: AlertEvent): void;
  stats(): SinkStats;
  /** Stops taking events, delivers what it can within `graceMs`, then gives up on the rest. */
  close(graceMs?: number): Promise<void>;
};

const QUEUE_MAX = 100;
/** Robots answer a few hundred bytes; what is past this is neither read nor kept. */
const ANSWER_MAX_BYTES = 64 * 1024;
const MAX_BACKOFF_MS = 60_000;

type Group = {
  last?: { fingerprint: string; at: number };
  held?: { event: AlertEvent; merged: number };
  timer?: NodeJS.Timeout;
};

/**
 * One sink's delivery: filter by `events`, merge flapping (dedup window), queue (bounded, oldest
 * dropped), pace to the platform's rate limits, retry 429/5xx/network failures with exponential
 * backoff and a bounded number of attempts. Every outcome is counted through `count`.
 */
export function createSinkWorker(o: {
  name: string;
  config: NotificationSinkConfig;
  protocol: SinkProtocol;
  log: Logger;
  count: (result: DeliveryResult) => void;
}): SinkWorker {
  const { config, protocol, log } = o;
  const lang: Lang = config.lang ?? 'zh-CN';
  const accepts = config.events ? new Set<string>(config.events) : undefined;
  const windowMs = parseDuration(config.dedupWindow ?? '60s');
  const retries = config.retries ?? 3;
  const backoffMs = parseDuration(config.retryBackoff ?? '2s');
  const timeoutMs = parseDuration(config.timeout ?? '10s');
  const limiter = createRateLimiter(protocol.limits);
  const groups = new Map<string, Group>();
  const recentDistinct = new Map<string, number>();
  const queue: AlertEvent[] = [];
  const controller = new AbortController();
  const stats: SinkStats = { sink: o.name, type: config.type, queued: 0, delivered: 0, failed: 0 };
  let running: Promise<void> | undefined;
  let closing = false;

  const enqueue = (event: AlertEvent) => {
    if (queue.length >= QUEUE_MAX) {
      queue.shift();
      o.count('dropped');
      log.warn({ sink: o.name }, 'notification queue full, the oldest alert was dropped');
    }
    queue.push(event);
    if (!running)
      running = new Promise<void>((r) => setImmediate(r)).then(drain).finally(() => (running = undefined));
  };

  const deliverNow = (g: Group, event: AlertEvent) => {
    g.last = { fingerprint: event.fingerprint, at: Date.now() };
    enqueue(event);
  };

  const flush = (g: Group) => {
    clearTimeout(g.timer);
    g.timer = undefined;
    const h = g.held;
    g.held = undefined;
    if (!h) return;
    if (h.event.fingerprint === g.last?.fingerprint) o.count('suppressed');
    else deliverNow(g, { ...h.event, merged: h.merged });
  };

  const offer = (event: AlertEvent) => {
    if (closing || (accepts && !accepts.has(event.type))) return;
    const now = Date.now();
    if (windowMs <= 0) return enqueue(event);
    if (event.type === 'admin.change') {
      // Every admin change is news; only the very same one repeated is held back.
      for (const [k, at] of recentDistinct) if (at <= now - windowMs) recentDistinct.delete(k);
      const key = `${event.subject}|${event.fingerprint}`;
      if (recentDistinct.has(key)) return o.count('suppressed');
      recentDistinct.set(key, now);
      return enqueue(event);
    }
    let g = groups.get(event.subject);
    if (!g) groups.set(event.subject, (g = {}));
    if (!g.last || now - g.last.at >= windowMs) {
      if (g.held) flush(g);
      if (!g.last || now - g.last.at >= windowMs || g.last.fingerprint !== event.fingerprint)
        return deliverNow(g, event);
      return o.count('suppressed');
    }
    // Within the window of the last delivery: hold the newest, deliver it when the window ends.
    if (g.held) {
      o.count('suppressed');
      g.held = { event, merged: g.held.merged + 1 };
    } else {
      g.held = { event, merged: 1 };
      g.timer = setTimeout(() => flush(g), g.last.at + windowMs - now);
    }
  };

  const send = async (event: AlertEvent): Promise<Verdict> => {
    const out = protocol.request({ message: compose(event, lang), event, lang, config, now: Date.now() });
    limiter.record();
    try {
      const res = await fetch(out.url, {
        method: 'POST',
        headers: out.headers,
        body: out.body,
        // A receiver that redirects could send the signed event to any address it names, inside
        // the gateway's network too: a redirect is a failed delivery, the URL is what to fix.
        redirect: 'manual',
        signal: AbortSignal.any([controller.signal, AbortSignal.timeout(timeoutMs)]),
      });
      if (res.status >= 300 && res.status < 400) {
        await res.body?.cancel();
        return { ok: false, retry: false, reason: `HTTP ${res.status}: redirects are not followed` };
      }
      const text = await readAnswer(res);
      return protocol.judge({ status: res.status, headers: res.headers, text });
    } catch (err) {
      const e = err as Error & { cause?: { code?: string } };
      return { ok: false, retry: true, reason: e.cause?.code ?? e.name ?? e.message };
    }
  };

  async function drain(): Promise<void> {
    let attempt = 0;
    while (queue.length > 0 && !controller.signal.aborted) {
      const wait = limiter.delay();
      if (wait > 0) {
        await sleep(wait, undefined, { signal: controller.signal }).catch(() => {});
        continue;
      }
      const event = queue[0]!;
      const v = await send(event);
      if (controller.signal.aborted) break;
      if (v.ok) {
        queue.shift();
        attempt = 0;
        stats.delivered++;
        stats.lastDeliveredAt = new Date().toISOString();
        o.count('ok');
        continue;
      }
      stats.lastError = v.reason;
      if (v.retry && attempt < retries) {
        attempt++;
        o.count('retried');
        const delay =
          v.retryAfterMs ??
          Math.min(backoffMs * 2 ** (attempt - 1), MAX_BACKOFF_MS) * (0.8 + Math.random() * 0.4);
        log.info(
          { sink: o.name, event: event.type, reason: v.reason, attempt, delayMs: Math.round(delay) },
          'alert delivery will be retried',
        );
        await sleep(delay, undefined, { signal: controller.signal }).catch(() => {});
        continue;
      }
      queue.shift();
      attempt = 0;
      stats.failed++;
      o.count('failed');
      log.warn({ sink: o.name, event: event.type, reason: v.reason }, 'alert could not be delivered');
    }
  }

  return {
    name: o.name,
    offer(event) {
      try {
        offer(event);
      } catch (err) {
        log.warn({ err, sink: o.name }, 'alert not queued');
      }
    },
    stats: () => ({ ...stats, queued: queue.length }),
    async close(graceMs = 2000) {
      closing = true;
      for (const g of groups.values()) flush(g);
      if (running) {
        const timer = setTimeout(() => controller.abort(), graceMs);
        await running;
        clearTimeout(timer);
      }
      controller.abort();
      for (let i = 0; i < queue.length; i++) o.count('dropped');
      queue.length = 0;
    },
  };
}

/** The answer's text up to ANSWER_MAX_BYTES: a receiver cannot make the gateway hold more. */
async function readAnswer(res: Response): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (size < ANSWER_MAX_BYTES) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
  }
  if (size >= ANSWER_MAX_BYTES) await reader.cancel();
  return Buffer.concat(chunks).subarray(0, ANSWER_MAX_BYTES).toString('utf8');
}
