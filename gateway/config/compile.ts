import { foldHeaderName } from '../proxy/foldHeaderName.ts';
import { createHash } from 'node:crypto';
import { OP_COOKIE_PREFIX, OP_COOKIES, SESSION_COOKIE } from './ownCookieNames.ts';
import { BlockList } from 'node:net';
import { compileHosts } from './compileHosts.ts';
import { providerSource } from './providerSource.ts';
import { blockList } from './blockList.ts';
import { compileRoutePolicy } from './compileRoutePolicy.ts';
import { parseDuration } from './duration.ts';
import { parseSize } from './size.ts';
import type {
  Config,
  RawConfig,
  RawRoute,
  Route,
  ServerGroup,
  SessionSettings,
  UpstreamServer,
} from './types.ts';

/**
 * A validated routes.yaml → the frozen config the gateway runs on. Pure: it reads no file, opens
 * no socket and creates no agent (the gateway does that when it applies a config), so
 * `portico validate` and the admin API's dry runs compile exactly what a reload would, with no
 * side effect.
 */
export function compileConfig(
  raw: RawConfig,
  source: string,
  file: string | undefined,
  baseDir: string,
): Config {
  const routes = (raw.routes ?? []).map((r) => compileRoute(r, raw));
  // Longest prefix first: the hot path takes the first match.
  routes.sort((a, b) => b.prefix.length - a.prefix.length);
  const h = raw.identity?.headers ?? {};
  const identityHeaders = Object.freeze({
    user: h.user ?? 'X-Forwarded-User',
    email: h.email ?? 'X-Forwarded-Email',
    groups: h.groups ?? 'X-Forwarded-Groups',
    name: h.name ?? 'X-Forwarded-Preferred-Username',
  });
  const jwtHeader = raw.identity?.jwt?.header ?? 'X-Portico-Assertion';
  const config: Config = {
    source,
    sourceHash: createHash('sha256').update(source).digest('hex'),
    file,
    baseDir,
    loadedAt: new Date(),
    raw: deepFreeze(structuredClone(raw)),
    listen: Object.freeze({
      host: raw.listen?.host ?? '0.0.0.0',
      port: raw.listen?.port ?? 8080,
      tls: raw.listen?.tls
        ? Object.freeze({ ...raw.listen.tls, http2: raw.listen.tls.http2 ?? true })
        : undefined,
    }),
    publicUrl: raw.publicUrl ? new URL(raw.publicUrl) : undefined,
    trustProxy: compileTrustProxy(raw.trustProxy),
    routes: Object.freeze(routes),
    hosts: compileHosts(routes),
    session: compileSession(raw),
    identityProviders: deepFreeze(structuredClone(raw.identityProviders ?? [])),
    primaryIdp:
      raw.identity?.primaryProvider ??
      (raw.identityProviders?.length === 1 ? raw.identityProviders[0]!.id : undefined),
    ownCookies: Object.freeze([
      ...new Set([
        sessionCookieName(raw),
        // Both defaults, whichever is in use: a browser keeps the other one's cookie after an
        // upgrade or a change of publicUrl, and it is a session id all the same.
        SESSION_COOKIE,
        `__Host-${SESSION_COOKIE}`,
        'portico_login',
        '__Host-portico_login',
        'portico_idp',
        ...Object.values(OP_COOKIES).flatMap((n) => [n, `${n}.sig`]),
      ]),
    ]),
    ownCookieProbes: Object.freeze([
      ...new Set([
        sessionCookieName(raw),
        SESSION_COOKIE, // also in __Host-portico_session
        'portico_login',
        'portico_idp',
        OP_COOKIE_PREFIX,
      ]),
    ]),
    identityHeaders,
    identityProviderIds: new Set((raw.identityProviders ?? []).map((p) => p.id)),
    identityProviderSources: new Map((raw.identityProviders ?? []).map((p) => [p.id, providerSource(p)])),
    identityHeaderNames: new Set([...Object.values(identityHeaders), jwtHeader].map(foldHeaderName)),
    apiKeys: deepFreeze(structuredClone(raw.apiKeys ?? [])),
    jwt: Object.freeze({ header: jwtHeader, ttlMs: parseDuration(raw.identity?.jwt?.ttl ?? '60s') }),
    logging: Object.freeze({
      level: raw.logging?.level ?? 'info',
      accessLog: raw.logging?.accessLog ?? true,
      accessLogFlushMs: parseDuration(raw.logging?.accessLogFlush ?? '1s'),
    }),
    limits: Object.freeze({
      headersTimeoutMs: parseDuration(raw.limits?.headersTimeout ?? '20s'),
      requestTimeoutMs: parseDuration(raw.limits?.requestTimeout ?? '0s'),
      ownBodyTimeoutMs: parseDuration(raw.limits?.ownBodyTimeout ?? '30s'),
      signInStartsPerMinute: raw.limits?.signInStartsPerMinute ?? 120,
      maxHeaderSize: raw.limits?.maxHeaderSize ?? 16384,
      maxUrlLength: raw.limits?.maxUrlLength ?? 8192,
      maxBodySize: raw.limits?.maxBodySize === undefined ? 0 : parseSize(raw.limits.maxBodySize),
    }),
  };
  return Object.freeze(config);
}

function compileSession(raw: RawConfig): SessionSettings {
  const s = raw.session ?? {};
  return Object.freeze({
    secrets:
      s.secret === undefined
        ? undefined
        : Object.freeze(Array.isArray(s.secret) ? [...s.secret] : [s.secret]),
    store: s.store ?? 'memory',
    redis: s.redis ? deepFreeze(structuredClone(s.redis)) : undefined,
    maxAgeMs: parseDuration(s.maxAge ?? '8h'),
    idleMs: parseDuration(s.idleTimeout ?? '2h'),
    cacheMs: parseDuration(s.cacheTtl ?? '1s'),
    terminalCheckMs: parseDuration(s.terminalCheck ?? '60s'),
    cookieName: sessionCookieName(raw),
    maxEntries: s.maxEntries ?? 10_000,
  });
}

/**
 * The session cookie's name: the configured one, else `__Host-portico_session` behind an https
 * publicUrl — browsers refuse a cookie of that name from a sibling subdomain (Domain=) or for a
 * narrower path, the ways to plant one (cookie tossing) — and `portico_session` on plain http,
 * where a __Host- cookie (Secure only) could not be set at all.
 */
function sessionCookieName(raw: RawConfig): string {
  if (raw.session?.cookieName !== undefined) return raw.session.cookieName;
  const https = raw.publicUrl !== undefined && new URL(raw.publicUrl).protocol === 'https:';
  return https ? `__Host-${SESSION_COOKIE}` : SESSION_COOKIE;
}

function compileTrustProxy(value: RawConfig['trustProxy']): BlockList | undefined {
  if (value === true) {
    const list = new BlockList();
    list.addSubnet('0.0.0.0', 0, 'ipv4');
    list.addSubnet('::', 0, 'ipv6');
    return list;
  }
  if (!Array.isArray(value)) return undefined;
  return blockList(value);
}

function compileRoute(r: RawRoute, raw: RawConfig): Route {
  const servers = compileServers(r.upstreams);
  const upstream = servers
    ? servers.list[0]!.url
    : r.upstream === undefined
      ? undefined
      : new URL(r.upstream);
  const secure = upstream?.protocol === 'https:';
  const origins: string[] = [];
  for (const u of servers ? servers.list.map((s) => s.url) : upstream ? [upstream] : []) {
    const defaultPort = secure ? '443' : '80';
    const port = u.port || defaultPort;
    origins.push(`${u.protocol}//${u.hostname}:${port}`);
    if (port === defaultPort) origins.push(`${u.protocol}//${u.hostname}`);
    if (u.hostname.startsWith('[')) origins.push(`${u.protocol}//${u.host}`);
  }
  const prefix = r.path;
  // `allow` implies a login: rules that cannot be checked without one must never be skipped.
  const auth = r.auth ?? (r.allow ? 'required' : 'none');
  const route: Route = {
    id: r.id,
    prefix,
    prefixBare: prefix.length > 1 && prefix.endsWith('/') ? prefix.slice(0, -1) : prefix,
    upstream,
    servers,
    upstreamBasePath: upstream?.pathname ?? '/',
    upstreamHost: upstream?.host ?? '',
    upstreamOrigins: Object.freeze([...new Set(origins)]),
    secure,
    tls: r.tls ? deepFreeze(structuredClone(r.tls)) : undefined,
    websocket: r.websocket ?? false,
    preserveHost: r.preserveHost ?? true,
    connectTimeoutMs: parseDuration(r.timeouts?.connect ?? '5s'),
    maxConnections: r.maxConnections ?? 256,
    idleTimeoutMs: parseDuration(r.timeouts?.idle ?? '60s'),
    auth,
    bearer: r.bearer ?? 'passthrough',
    bearerProviders: r.bearerProviders ? Object.freeze([...r.bearerProviders]) : undefined,
    allow: r.allow ? deepFreeze(structuredClone(r.allow)) : undefined,
    inject: Object.freeze({
      headers: r.inject?.headers ?? auth !== 'none',
      jwt: r.inject?.jwt ?? false,
      accessToken: r.inject?.accessToken ?? false,
    }),
    rewriteLocation: r.rewrite?.location ?? true,
    rewriteCookiePath: r.rewrite?.cookiePath ?? false,
    branding: r.branding ?? false,
    nav: r.nav ? deepFreeze(structuredClone(r.nav)) : undefined,
    keycloakIdpHint: r.keycloakIdpHint,
    ...compileRoutePolicy(r, raw),
    withoutLogin: undefined,
    loginSkipped: false,
  };
  // Public paths and CORS preflights run as this same route without its login (and so without
  // its allow rules): swapping the route is all the stages do, authentication reads it as usual.
  const skipsLogin = route.publicPaths !== undefined || route.corsPreflight;
  const withoutLogin =
    skipsLogin && auth !== 'none'
      ? Object.freeze({
          ...route,
          auth: 'none' as const,
          allow: undefined,
          withoutLogin: undefined,
          loginSkipped: true,
        })
      : undefined;
  return Object.freeze({ ...route, withoutLogin });
}

/** `upstreams:` → the servers in order, with nginx's defaults (`max_fails=1 fail_timeout=10s`). */
function compileServers(u: RawRoute['upstreams']): ServerGroup | undefined {
  if (!u) return undefined;
  const list = u.servers.map((entry): UpstreamServer => {
    const s = typeof entry === 'string' ? { url: entry } : entry;
    const url = new URL(s.url);
    return Object.freeze({
      url,
      origin: url.origin,
      host: url.host,
      weight: s.weight ?? 1,
      backup: s.backup ?? false,
    });
  });
  return Object.freeze({
    list: Object.freeze(list),
    balance: u.balance ?? 'round-robin',
    maxFails: u.maxFails ?? 1,
    failTimeoutMs: parseDuration(u.failTimeout ?? '10s'),
    sticky: u.sticky === 'session',
  });
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
