import { readFileSync } from 'node:fs';
import { createRequire, Module } from 'node:module';
import { isIP, type Socket } from 'node:net';
import { resolve } from 'node:path';
import type { PeerCertificate } from 'node:tls';
import type * as Undici from 'undici';
import type { Config, Route, ServerGroup } from '../config/types.ts';
import { type Balancer, createBalancer, type ServerState } from './balancer.ts';

/**
 * The two parts of undici the gateway forwards with, from their own files: undici's index also
 * loads fetch, web streams, the cache and mock layers and every other dispatcher — measured here,
 * 30 MB of RSS against 17 MB for these two — which a proxy never runs. undici is pinned and has no
 * `exports` map; every test that proxies a request (test/cli/pureProxyFootprint.test.ts first) fails
 * if these paths stop exporting what the gateway uses.
 */
const load = createRequire(import.meta.url);
deferUndiciHttp2();
const Pool: typeof Undici.Pool = load('undici/lib/dispatcher/pool.js');
const buildConnector: typeof Undici.buildConnector = load('undici/lib/core/connect.js');
const symbols = load('undici/lib/core/symbols.js') as { kParser: symbol; kQueuedAbort: symbol };
/** Where undici's HTTP/1.1 client keeps a connection's response parser. */
const { kParser } = symbols;
/**
 * A dispatch option undici calls, while the request waits for a connection, with a function that
 * takes it out of the queue (forwardHttp.ts: a request that gave up waiting). Not in its types.
 */
export const QUEUED_ABORT: symbol = symbols.kQueuedAbort;
type Pool = Undici.Pool;

export type UpstreamEndpoint = {
  /**
   * The TLS server name sent and checked: the configured `serverName` or the upstream's host,
   * never the client's Host header (which undici would use otherwise).
   */
  readonly servername: string | undefined;
  /**
   * Keep-alive connections to the upstream (undici): the benchmark measured undici's
   * `dispatch()` at 76 µs of CPU per proxied request against 104 for node:http with an Agent.
   */
  readonly pool: Pool;
  /** TLS options for connections made without the pool (WebSocket upgrades, health probes). */
  readonly tlsOptions: Readonly<Record<string, unknown>>;
  /** What the balancer knows of this server (used by routes with `upstreams`; mutable). */
  readonly state: ServerState;
};

export type UpstreamPool = {
  /** The keep-alive pool and TLS options of a route's upstream, made on first use. */
  endpoint(route: Route): UpstreamEndpoint;
  /** The servers of a route with `upstreams` and how one is picked, made on first use. */
  balancer(route: Route & { readonly servers: ServerGroup }): Balancer;
  /** The active health check's verdict on one server of a route with `upstreams`. */
  checked(route: Route, server: number, up: boolean | undefined): void;
  /** Drops the endpoints no route of `config` uses any more (after a reload). */
  retain(config: Config): void;
  close(): void;
};

/**
 * The gateway's connections to its upstreams: one keep-alive pool per upstream origin, TLS
 * setting and connect timeout, owned by this gateway (closing it closes only its own sockets).
 * Pools outlive a reload, so unchanged upstreams keep their warm connections; PEM files are read
 * here, when a config is applied, never while validating one.
 */
export function createUpstreamPool(baseDir: () => string): UpstreamPool {
  const byKey = new Map<string, UpstreamEndpoint>();
  const byRoute = new WeakMap<Route, UpstreamEndpoint>();
  // By group rather than by route: a route's public paths run as a copy of it sharing its group.
  const balancers = new WeakMap<ServerGroup, Balancer>();
  const keyOf = (route: Route, upstream: URL | undefined = route.upstream) =>
    `${upstream?.protocol}//${upstream?.host}|${JSON.stringify(route.tls ?? {})}|${route.tls ? baseDir() : ''}|${route.connectTimeoutMs}|${route.maxConnections}`;

  const endpointFor = (route: Route, upstream: URL): UpstreamEndpoint => {
    const key = keyOf(route, upstream);
    let e = byKey.get(key);
    if (!e) {
      const tlsOptions = route.secure ? tlsOptionsFor(route, baseDir(), upstream) : {};
      const host = upstream.hostname.replace(/^\[|\]$/g, '');
      // SNI is the configured serverName or the upstream's host name; none for an IP address.
      const sni = (tlsOptions.servername as string | undefined) ?? (isIP(host) ? undefined : host);
      const connector = buildConnector({
        ...tlsOptions,
        timeout: route.connectTimeoutMs,
        // HTTP/1.1 to upstreams (SPEC §4): undici offers h2 by ALPN unless told not to, and a TLS
        // upstream that takes it would get requests framed as nothing else here expects.
        allowH2: false,
      } as Undici.buildConnector.BuildOptions);
      const pool = new Pool(upstream.origin, {
        connections: route.maxConnections,
        // One request per connection at a time: a slow answer never holds up another's.
        pipelining: 1,
        // undici would take the TLS name from each request's Host header (the client's, with
        // preserveHost): the upstream's own name is used instead, on every connection.
        connect: (opts, callback) =>
          connector({ ...opts, servername: sni }, (...args) => {
            if (args[1]) readPastUnaskedContinue(args[1]);
            callback(...args);
          }),
        // Timeouts are the route's and set per request (headersTimeout, bodyTimeout).
        headersTimeout: 0,
        bodyTimeout: 0,
        allowH2: false,
      });
      e = Object.freeze({
        pool,
        // The same on every request, or undici would drop its connections when the Host changes.
        servername: route.secure ? (sni ?? host) : undefined,
        tlsOptions: Object.freeze(tlsOptions),
        state: { inFlight: 0, fails: 0, lastFailAt: 0, downUntil: 0, checkedDown: false, busyWarnedAt: 0 },
      });
      byKey.set(key, e);
    }
    return e;
  };

  return {
    endpoint(route) {
      let e = byRoute.get(route);
      if (e) return e;
      // Routes without an upstream answer before the forwarding stage (answerWithoutUpstream).
      e = endpointFor(route, route.upstream!);
      byRoute.set(route, e);
      return e;
    },
    balancer(route) {
      let b = balancers.get(route.servers);
      if (b) return b;
      b = createBalancer(
        route.servers,
        route.servers.list.map((server) => endpointFor(route, server.url)),
      );
      balancers.set(route.servers, b);
      return b;
    },
    checked(route, server, up) {
      if (!route.servers) return;
      this.balancer(route as Route & { servers: ServerGroup }).endpoints[server]!.state.checkedDown =
        up === false;
    },
    retain(config) {
      const used = new Set(
        config.routes.flatMap((r) =>
          r.servers ? r.servers.list.map((s) => keyOf(r, s.url)) : r.upstream ? [keyOf(r)] : [],
        ),
      );
      for (const [key, e] of byKey) {
        if (used.has(key)) continue;
        byKey.delete(key);
        // Requests in flight during a reload finish on the old upstream; then its pool closes.
        e.pool.close().catch(() => {});
      }
    },
    close() {
      for (const e of byKey.values()) e.pool.destroy().catch(() => {});
      byKey.clear();
    },
  };
}

/**
 * TLS options for an https upstream. The server name is always the upstream's own (or the
 * configured `serverName`), never the client's Host header, which Node would otherwise use for
 * SNI and certificate checks when the Host is passed through.
 */
export function tlsOptionsFor(
  route: Route,
  baseDir: string,
  upstream: URL = route.upstream!,
): Record<string, unknown> {
  const tls = route.tls;
  const read = (value: string) =>
    value.includes('-----BEGIN') ? value : readFileSync(resolve(baseDir, value));
  const options: Record<string, unknown> = {};
  const host = upstream.hostname.replace(/^\[|\]$/g, '');
  const name = tls?.serverName ?? host;
  if (isIP(name)) {
    options.checkServerIdentity = (_servername: string, cert: PeerCertificate) =>
      process.getBuiltinModule('node:tls').checkServerIdentity(name, cert);
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

/**
 * An interim `100 Continue` from the upstream is read past, like any other 1xx (RFC 9110 §15.2:
 * a client must parse 1xx answers it did not expect and may ignore them); the final answer
 * follows on the same connection. Portico never sends `Expect` upstream (it answers the client's
 * itself), yet servers send 100 anyway, and undici takes an unasked 100 for a broken response:
 * the client got a 502 for an answer that was there. The connection's response parser, once
 * undici gives it one, reads a 100 as undici reads a 102 (handed to the request's handler, which
 * ignores answers below 200, then the next answer is read); the parser's property is an ordinary
 * one again after that first assignment. test/proxy/interimAnswers.test.ts fails if undici stops
 * keeping its parser there.
 */
function readPastUnaskedContinue(socket: Socket): void {
  Object.defineProperty(socket, kParser, {
    configurable: true,
    enumerable: true,
    get: () => undefined,
    set(parser: { onHeadersComplete?: (status: number, upgrade: boolean, keepAlive: boolean) => number }) {
      const onHeadersComplete = parser?.onHeadersComplete;
      if (typeof onHeadersComplete === 'function') {
        parser.onHeadersComplete = function (status, upgrade, keepAlive) {
          return onHeadersComplete.call(this, status === 100 ? 102 : status, upgrade, keepAlive);
        };
      }
      Object.defineProperty(socket, kParser, {
        configurable: true,
        enumerable: true,
        writable: true,
        value: parser,
      });
    },
  });
}

/**
 * undici's Client loads its HTTP/2 half (client-h2.js) at once, and with it node:http2, node:tls
 * and OpenSSL's TLS state: 3.2 MB of an idle pure proxy's RSS (86.2 → 83.0 MB, 4 starts each),
 * for a proxy that speaks only HTTP/1.1 to upstreams (`allowH2: false`: h2 is never offered by
 * ALPN, so undici never calls it). Node's module cache takes
 * entries put there (documented for require.cache): this one loads the real file on its first
 * call. test/cli/pureProxyFootprint.test.ts checks node:http2 and node:tls stay unloaded.
 */
function deferUndiciHttp2(): void {
  const file = load.resolve('undici/lib/dispatcher/client-h2.js');
  if (load.cache[file]) return;
  let real: ((...args: unknown[]) => unknown) | undefined;
  const deferred = new Module(file);
  deferred.filename = file;
  deferred.loaded = true;
  deferred.exports = function connectH2(...args: unknown[]) {
    if (!real) {
      delete load.cache[file];
      real = load(file) as (...args: unknown[]) => unknown;
    }
    return real(...args);
  };
  load.cache[file] = deferred;
}
