import type { Logger } from 'pino';
import { parseDuration } from '../../config/duration.ts';
import type { HealthConfig } from '../../config/opsSchema.ts';
import type { UpstreamState } from './upstreamMonitor.ts';

export type Heartbeat = { status: 'up' | 'down'; msg: string; ping: number | undefined };

/** What Uptime Kuma is told: down when any checked upstream is down; ping = mean check latency. */
export function heartbeat(states: UpstreamState[]): Heartbeat {
  const down = states.filter((s) => s.up === false);
  const up = states.filter((s) => s.up === true && s.latencyMs !== undefined);
  const ping = up.length > 0 ? Math.round(up.reduce((n, s) => n + s.latencyMs!, 0) / up.length) : undefined;
  if (down.length > 0) {
    const msg = `down: ${down.map((s) => `${s.route} (${s.error ?? 'unreachable'})`).join(', ')}`;
    return { status: 'down', msg: msg.slice(0, 250), ping };
  }
  return {
    status: 'up',
    msg: states.length > 0 ? `OK, ${up.length} upstream${up.length === 1 ? '' : 's'} up` : 'OK',
    ping,
  };
}

/** The push URL with Uptime Kuma's parameters set (replacing the `?status=up&msg=OK&ping=` Kuma shows). */
export function pushUrl(base: string, hb: Heartbeat): string {
  const u = new URL(base);
  u.searchParams.set('status', hb.status);
  u.searchParams.set('msg', hb.msg);
  u.searchParams.set('ping', hb.ping === undefined ? '' : String(hb.ping));
  return u.toString();
}

/**
 * Uptime Kuma "push" monitor: a GET of the push URL every `interval` (default 60s), the first one
 * after the first round of health checks. Re-reads the config before every push.
 */
export function startUptimeKuma(o: {
  settings: () => HealthConfig['uptimeKuma'];
  states: () => UpstreamState[];
  firstRound: Promise<void>;
  log: Logger;
}): { close(): void; lastPush(): { at: string; status: string; ok: boolean } | undefined } {
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let last: { at: string; status: string; ok: boolean } | undefined;
  let failing = false;
  const controller = new AbortController();

  const push = async () => {
    const s = o.settings();
    if (!s) return 60_000;
    const hb = heartbeat(o.states());
    try {
      const res = await fetch(pushUrl(s.pushUrl, hb), {
        signal: AbortSignal.any([controller.signal, AbortSignal.timeout(10_000)]),
        headers: { 'user-agent': 'Portico-UptimeKuma/1' },
      });
      await res.arrayBuffer();
      const ok = res.ok;
      last = { at: new Date().toISOString(), status: hb.status, ok };
      if (!ok && !failing) o.log.warn({ status: res.status }, 'Uptime Kuma push refused');
      else if (ok && failing) o.log.info('Uptime Kuma push works again');
      failing = !ok;
    } catch (err) {
      if (closed) return 0;
      last = { at: new Date().toISOString(), status: hb.status, ok: false };
      if (!failing) o.log.warn({ err }, 'Uptime Kuma push failed');
      failing = true;
    }
    return Math.max(parseDuration(s.interval ?? '60s'), 100);
  };
  const loop = () => {
    push().then((next) => {
      if (!closed) timer = setTimeout(loop, next);
    });
  };
  o.firstRound.then(() => {
    if (!closed) loop();
  });
  return {
    lastPush: () => last,
    close() {
      closed = true;
      clearTimeout(timer);
      controller.abort();
    },
  };
}
