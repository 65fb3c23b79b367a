import { readFileSync } from 'node:fs';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import type { Config, Route } from '../config/types.ts';

export type UpstreamEndpoint = {
  readonly agent: HttpAgent | HttpsAgent;
  /** TLS options for connections made without the agent (WebSocket upgrades, health probes). */
  readonly tlsOptions: Readonly<Record<string, unknown>>;
};

export type UpstreamPool = {
  /** The keep-alive agent and TLS options of a route's upstream, made on first use. */
  endpoint(route: Route): UpstreamEndpoint;
  /** Drops the endpoints no route of `config` uses any more (after a reload). */
  retain(config: Config): void;
  close(): void;
};

/**
 * The gateway's connections to its upstreams: one keep-alive agent per upstream origin and TLS
 * setting, owned by this gateway (closing it closes only its own sockets). Agents outlive a
 * reload, so unchanged upstreams keep their warm connections; PEM files are read here, when a
 * config is applied, never while validating one.
 */
export function createUpstreamPool(baseDir: () => string): UpstreamPool {
  const byKey = new Map<string, UpstreamEndpoint>();
  const byRoute = new WeakMap<Route, UpstreamEndpoint>();
  const keyOf = (route: Route) =>
    `${route.upstream?.protocol}//${route.upstream?.host}|${JSON.stringify(route.tls ?? {})}|${route.tls ? baseDir() : ''}`;

  return {
    endpoint(route) {
      let e = byRoute.get(route);
      if (e) return e;
      const key = keyOf(route);
      e = byKey.get(key);
      if (!e) {
        const tlsOptions = route.secure ? tlsOptionsFor(route, baseDir()) : {};
        const common = {
          keepAlive: true,
          keepAliveMsecs: 1000,
          maxSockets: 256,
          maxFreeSockets: 64,
          scheduling: 'lifo' as const,
        };
        const agent = route.secure ? new HttpsAgent({ ...common, ...tlsOptions }) : new HttpAgent(common);
        e = Object.freeze({ agent, tlsOptions: Object.freeze(tlsOptions) });
        byKey.set(key, e);
      }
      byRoute.set(route, e);
      return e;
    },
    retain(config) {
      const used = new Set(config.routes.filter((r) => r.upstream).map(keyOf));
      for (const [key, e] of byKey) {
        if (used.has(key)) continue;
        byKey.delete(key);
        retire(e.agent);
      }
    },
    close() {
      for (const e of byKey.values()) e.agent.destroy();
      byKey.clear();
    },
  };
}

/**
 * An agent no route uses any more: its idle connections close now, the ones still carrying a
 * request close when it is done (requests in flight during a reload finish on the old upstream).
 */
function retire(agent: HttpAgent | HttpsAgent): void {
  (agent as HttpAgent & { keepAlive: boolean }).keepAlive = false;
  for (const sockets of Object.values(agent.freeSockets))
    for (const socket of sockets ?? []) socket.destroy();
}

/**
 * TLS options for an https upstream. The server name is always the upstream's own (or the
 * configured `serverName`), never the client's Host header, which Node would otherwise use for
 * SNI and certificate checks when the Host is passed through.
 */
export function tlsOptionsFor(route: Route, baseDir: string): Record<string, unknown> {
  const tls = route.tls;
  const read = (value: string) =>
    value.includes('-----BEGIN') ? value : readFileSync(resolve(baseDir, value));
  const options: Record<string, unknown> = {};
  const host = route.upstream!.hostname.replace(/^\[|\]$/g, '');
  const name = tls?.serverName ?? host;
  if (isIP(name)) {
    options.checkServerIdentity = (_servername: string, cert: PeerCertificate) =>
      checkServerIdentity(name, cert);
  } else {
    options.servername = name;
  }
  if (!tls) return options;
  if (tls.insecureSkipVerify) options.rejectUnauthorized = false;
  if (tls.ca) options.ca = read(tls.ca);
  if (tls.cert) options.cert = read(tls.cert);
  if (tls.key) options.key = read(tls.key);
  return options;
}
