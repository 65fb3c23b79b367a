import type { Logger } from 'pino';
import type { HealthConfig } from '../../config/opsSchema.ts';
import { parseDuration } from '../../config/duration.ts';
import type { Config, Route } from '../../config/types.ts';
import { probe, type ProbeResult } from './probe.ts';

export type UpstreamState = {
  route: string;
  /** The upstream origin (never credentials: the config refuses them). */
  upstream: string;
  /** undefined until the first verdict. */
  up: boolean | undefined;
  /** When the current state began (ISO). */
  since: string | undefined;
  checkedAt: string | undefined;
  latencyMs: number | undefined;
  status: number | undefined;
  /** Why the last check failed. */
  error: string | undefined;
  consecutiveFailures: number;
  consecutiveSuccesses: number;
};

export type Transition = {
  type: 'upstream.down' | 'upstream.up';
  state: Readonly<UpstreamState>;
  /** upstream.up: how long it was down, in ms. */
  downtimeMs?: number;
};

export type UpstreamMonitor = {
  states(): UpstreamState[];
  /** Resolves when the first round of checks has finished (at once when checks are off). */
  firstRound: Promise<void>;
  close(): void;
};

type Settings = {
  enabled: boolean;
  intervalMs: number;
  timeoutMs: number;
  unhealthy: number;
  healthy: number;
  paths: Record<string, string>;
};

export function healthSettings(h: HealthConfig | undefined): Settings {
  return {
    enabled: h !== undefined && h.checks !== false,
    intervalMs: Math.max(parseDuration(h?.interval ?? '10s'), 10),
    timeoutMs: Math.max(parseDuration(h?.timeout ?? '2s'), 10),
    unhealthy: h?.unhealthyThreshold ?? 3,
    healthy: h?.healthyThreshold ?? 2,
    paths: h?.path ?? {},
  };
}

/**
 * Active health checks of every route's upstream (each server of a route's `upstreams`), on the live config: each round re-reads the
 * routes and `health` settings, so a reload adds, drops or re-times checks without a restart.
 * A route turns down after `unhealthyThreshold` failures in a row and up again after
 * `healthyThreshold` successes; the first verdict needs one success (up, no alert) or the full
 * failure threshold (down, alerted).
 */
export function startUpstreamMonitor(o: {
  config: () => Config;
  log: Logger;
  /** The route's TLS options (of its server `server` with `upstreams`), as the gateway's upstream pool holds them. */
  tlsOptions: (route: Route, server: number) => Readonly<Record<string, unknown>>;
  onState: (route: string, up: boolean | undefined) => void;
  /** The verdict on one server of a route with `upstreams`: a server that is down is not picked. */
  onServer?: (route: Route, server: number, up: boolean | undefined) => void;
  onTransition: (t: Transition) => void;
  /** A TLS upstream's certificate expiry (epoch ms) as its last handshake showed; undefined: forget it. */
  onCertificate?: (route: string, expiresAt: number | undefined) => void;
}): UpstreamMonitor {
  const byRoute = new Map<string, UpstreamState>();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let markFirst!: () => void;
  const firstRound = new Promise<void>((r) => (markFirst = r));

  // Servers of routes with `upstreams`, by `route id + origin`: the same thresholds, no alert of their own.
  const byServer = new Map<
    string,
    { route: Route; server: number; up: boolean | undefined; failures: number; successes: number }
  >();
  const applyServer = (route: Route, j: number, r: ProbeResult, s: Settings) => {
    const key = `${route.id} ${route.servers!.list[j]!.origin}`;
    let st = byServer.get(key);
    if (!st) {
      st = { route, server: j, up: undefined, failures: 0, successes: 0 };
      byServer.set(key, st);
    }
    st.route = route;
    st.server = j;
    const was = st.up;
    if (r.ok) {
      st.successes++;
      st.failures = 0;
      if (st.up === undefined || (!st.up && st.successes >= s.healthy)) st.up = true;
    } else {
      st.failures++;
      st.successes = 0;
      if (st.up !== false && st.failures >= s.unhealthy) st.up = false;
    }
    if (st.up !== was) {
      if (st.up === false)
        o.log.warn({ route: route.id, server: route.servers!.list[j]!.origin }, 'upstream server is down');
      else if (was === false)
        o.log.info(
          { route: route.id, server: route.servers!.list[j]!.origin },
          'upstream server is up again',
        );
    }
    o.onServer?.(route, j, st.up);
  };

  const apply = (route: Route, r: ProbeResult, s: Settings) => {
    const upstream = route.upstream!;
    const origin = route.servers
      ? route.servers.list.map((server) => `${server.origin}${route.upstreamBasePath}`).join(' ')
      : `${upstream.protocol}//${upstream.host}${route.upstreamBasePath}`;
    let st = byRoute.get(route.id);
    if (!st || st.upstream !== origin) {
      if (st) o.onState(route.id, undefined);
      st = {
        route: route.id,
        upstream: origin,
        up: undefined,
        since: undefined,
        checkedAt: undefined,
        latencyMs: undefined,
        status: undefined,
        error: undefined,
        consecutiveFailures: 0,
        consecutiveSuccesses: 0,
      };
      byRoute.set(route.id, st);
    }
    if (r.certificateExpiresAt !== undefined) o.onCertificate?.(route.id, r.certificateExpiresAt);
    const now = new Date();
    st.checkedAt = now.toISOString();
    st.latencyMs = r.latencyMs;
    st.status = r.status;
    if (r.ok) {
      st.consecutiveSuccesses++;
      st.consecutiveFailures = 0;
      st.error = undefined;
      if (st.up === undefined) setState(st, true, now);
      else if (!st.up && st.consecutiveSuccesses >= s.healthy) {
        const downtimeMs = st.since ? now.getTime() - Date.parse(st.since) : undefined;
        setState(st, true, now);
        o.log.info({ route: st.route, upstream: st.upstream, downtimeMs }, 'upstream is up again');
        o.onTransition({ type: 'upstream.up', state: { ...st }, downtimeMs });
      }
    } else {
      st.consecutiveFailures++;
      st.consecutiveSuccesses = 0;
      st.error = r.reason === 'status' ? r.message : `${r.reason}: ${r.message}`;
      if (st.up !== false && st.consecutiveFailures >= s.unhealthy) {
        setState(st, false, now);
        o.log.warn({ route: st.route, upstream: st.upstream, error: st.error }, 'upstream is down');
        o.onTransition({ type: 'upstream.down', state: { ...st } });
      }
    }
  };
  const setState = (st: UpstreamState, up: boolean, now: Date) => {
    st.up = up;
    st.since = now.toISOString();
    o.onState(st.route, up);
  };

  const round = async () => {
    const s = healthSettings(o.config().raw.health as HealthConfig | undefined);
    // A route that answers itself (respond, redirect) has no upstream to check.
    const routes = s.enabled ? o.config().routes.filter((r) => r.upstream !== undefined) : [];
    for (const id of [...byRoute.keys()]) {
      if (!routes.some((r) => r.id === id)) {
        byRoute.delete(id);
        o.onState(id, undefined);
        o.onCertificate?.(id, undefined);
      }
    }
    const current = new Set(
      routes.flatMap((r) => (r.servers ? r.servers.list.map((server) => `${r.id} ${server.origin}`) : [])),
    );
    // A server no longer checked (checks off, server or route gone) is no longer held down by them.
    for (const [key, st] of [...byServer]) {
      if (current.has(key)) continue;
      byServer.delete(key);
      o.onServer?.(st.route, st.server, undefined);
    }
    await Promise.all(
      routes.map(async (route) => {
        if (!route.servers) {
          const r = await probe(route, o.tlsOptions(route, -1), s.paths[route.id], s.timeoutMs);
          if (!closed) apply(route, r, s);
          return;
        }
        // Each server on its own; the route is up while any of them is.
        const results = await Promise.all(
          route.servers.list.map((server, j) =>
            probe(route, o.tlsOptions(route, j), s.paths[route.id], s.timeoutMs, server.url),
          ),
        );
        if (closed) return;
        results.forEach((r, j) => {
          applyServer(route, j, r, s);
        });
        apply(route, results.find((r) => r.ok) ?? results[0]!, s);
      }),
    );
    return s;
  };

  const loop = () => {
    round()
      .catch((err) => {
        o.log.warn({ err }, 'health check round failed');
        return healthSettings(undefined);
      })
      .then((s) => {
        markFirst();
        if (!closed) timer = setTimeout(loop, s.intervalMs);
      });
  };
  loop();

  return {
    states: () => [...byRoute.values()].map((s) => ({ ...s })),
    firstRound,
    close() {
      closed = true;
      clearTimeout(timer);
      markFirst();
    },
  };
}
