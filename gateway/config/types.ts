import type { BlockList } from 'node:net';
import type { FromSchema } from 'json-schema-to-ts';
import type { configSchema } from './schema.ts';

/**
 * routes.yaml as written (after env interpolation and schema validation). The type is derived
 * from the schema itself (json-schema-to-ts), so the schema is the one source of truth for what a
 * key is: a key added there is typed here, a key removed there is a type error wherever it is read.
 */
export type RawConfig = FromSchema<typeof configSchema, { parseIfThenElseKeywords: true }>;
export type RawRoute = NonNullable<RawConfig['routes']>[number];
export type RawIdentityProvider = NonNullable<RawConfig['identityProviders']>[number];
/** One kind of identity provider definition, e.g. `ProviderDefinition<'ldap'>`. */
export type ProviderDefinition<T extends RawIdentityProvider['type']> = Extract<
  RawIdentityProvider,
  { type: T }
>;
export type RawSession = NonNullable<RawConfig['session']>;
export type AllowRules = NonNullable<RawRoute['allow']>;
export type RawOidcProviderConfig = NonNullable<RawConfig['oidcProvider']>;
export type RawOidcClient = RawOidcProviderConfig['clients'][number];

/** A route compiled at load time: everything the hot path needs is precomputed here. */
export type Route = {
  readonly id: string;
  /** The configured prefix, e.g. `/dce5/` or `/`. */
  readonly prefix: string;
  /** The prefix without its trailing slash (`/dce5`), sent as X-Forwarded-Prefix. */
  readonly prefixBare: string;
  /**
   * Undefined only on a route that answers itself (respond, redirect, maintenance): it never
   * forwards. With `upstreams`, the first server: its scheme and path are every server's.
   */
  readonly upstream: URL | undefined;
  /** `upstreams:` (several servers); undefined for one `upstream`, which forwards without a pick. */
  readonly servers: ServerGroup | undefined;
  /** The upstream's path, which replaces the matched prefix (`/` for `https://h:p/`). */
  readonly upstreamBasePath: string;
  /** `host:port` of the upstream, for `preserveHost: false`. */
  readonly upstreamHost: string;
  /** Origins whose Location headers are rewritten (`https://h:p`, and without the default port), of every server. */
  readonly upstreamOrigins: readonly string[];
  readonly secure: boolean;
  /** TLS settings towards the upstream as written; files are read by the gateway, not the compiler. */
  readonly tls: RawRoute['tls'] | undefined;
  readonly websocket: boolean;
  readonly preserveHost: boolean;
  readonly connectTimeoutMs: number;
  /** `maxConnections`: the pool size towards each of the route's upstream servers. */
  readonly maxConnections: number;
  readonly idleTimeoutMs: number;
  readonly auth: 'required' | 'optional' | 'none';
  /** `passthrough`: Authorization belongs to the upstream; `verify`: Portico checks bearer tokens. */
  readonly bearer: 'passthrough' | 'verify';
  /**
   * `bearer: verify`: the providers whose tokens this route takes, in order; undefined: every
   * provider for a JWT (checked where it is), the primary one alone for an opaque token.
   */
  readonly bearerProviders: readonly string[] | undefined;
  readonly allow: AllowRules | undefined;
  readonly inject: { readonly headers: boolean; readonly jwt: boolean; readonly accessToken: boolean };
  readonly rewriteLocation: boolean;
  readonly rewriteCookiePath: boolean;
  readonly branding: boolean;
  readonly nav: RawRoute['nav'] | undefined;
  /** `kc_idp_hint` added to browser requests for the upstream Keycloak's authorization endpoint. */
  readonly keycloakIdpHint: string | undefined;
} & RoutePolicy;

/** One server of a route's `upstreams`. */
export type UpstreamServer = {
  readonly url: URL;
  /** `http://h:p`: how logs, events and `explain` name it (never credentials: the config refuses them). */
  readonly origin: string;
  /** `host:port`, sent as Host with `preserveHost: false`. */
  readonly host: string;
  readonly weight: number;
  /** Used only when every other server is out (ejected or failing its health check). */
  readonly backup: boolean;
};

/** A route's `upstreams`: nginx's `upstream` block with `max_fails`, `fail_timeout` and `proxy_next_upstream`. */
export type ServerGroup = {
  readonly list: readonly UpstreamServer[];
  readonly balance: 'round-robin' | 'least-conn';
  /** Failed connections within `failTimeoutMs` that leave a server out for `failTimeoutMs`; 0: never. */
  readonly maxFails: number;
  readonly failTimeoutMs: number;
  /** `sticky: session`: a signed-in user's requests go to one server while it is in. */
  readonly sticky: boolean;
};

/**
 * What a route decides besides where it forwards (gateway/routePolicy/), compiled so that a route
 * without these keys costs the hot path one property check per stage: each is undefined (or 0)
 * when not configured.
 */
export type RoutePolicy = {
  /** Lower-case host name or `*.example.com`; undefined: any host (see HostTable). */
  readonly host: string | undefined;
  /** Paths inside a route with a login that need none (`public:`). */
  readonly publicPaths: readonly PublicPath[] | undefined;
  /** `cors.allowPreflight`: OPTIONS preflights pass without a login. */
  readonly corsPreflight: boolean;
  /** This route as public paths and preflights run it: no login, no allow rules. */
  readonly withoutLogin: Route | undefined;
  /** This is a route's `withoutLogin` copy: what passes on it passes for its method alone. */
  readonly loginSkipped: boolean;
  /** Largest request body in bytes (the route's, else `limits.maxBodySize`); 0: no limit. */
  readonly maxBodySize: number;
  readonly perIpRate: Rate | undefined;
  readonly perUserRate: Rate | undefined;
  /** `rateLimit.concurrentPerIp`: requests and WebSockets one address may have open on the route at once. */
  readonly concurrentPerIp: number | undefined;
  readonly addresses: AddressRule | undefined;
  /** `maintenance:` in the file (the admin API can add its own, see routePolicy/maintenanceSwitch.ts). */
  readonly maintenance: Maintenance | undefined;
  /** `respond:` or `redirect:`: answered by Portico, never forwarded. */
  readonly answer: FixedAnswer | undefined;
  readonly requestHeaders: RequestHeaderPolicy | undefined;
  readonly responseHeaders: ResponseHeaderPolicy | undefined;
};

export type PublicPath = {
  /** As written: `/dce5/static/` (a prefix) or `/dce5/health` (that path and below it, by segment). */
  readonly path: string;
  /** Upper-case methods; undefined: every method. */
  readonly methods: ReadonlySet<string> | undefined;
};

export type Rate = { readonly limit: number; readonly windowMs: number };

export type AddressRule = { readonly allow: BlockList | undefined; readonly deny: BlockList | undefined };

export type LocalText = { readonly 'zh-CN': string; readonly 'en-US': string };

export type Maintenance = {
  readonly retryAfterSeconds: number | undefined;
  /** The page's message; undefined: Portico's own. */
  readonly message: LocalText | undefined;
};

export type FixedAnswer =
  | {
      readonly kind: 'respond';
      readonly status: number;
      readonly headers: Readonly<Record<string, string>>;
      readonly body: Buffer;
    }
  | { readonly kind: 'redirect'; readonly status: number; readonly to: string; readonly keepPath: boolean };

export type RequestHeaderPolicy = {
  /** Lower-case names and values, applied after Portico's own forwarding headers. */
  readonly set: readonly (readonly [string, string])[];
  readonly remove: readonly string[];
  /** Every name `set` or `remove` speaks of, `_` folded to `-`: a client's copy in any spelling is not passed on. */
  readonly named: ReadonlySet<string>;
};

export type ResponseHeaderPolicy = {
  /** Lower-case names dropped from the upstream's answer (`remove`, and every name `set` replaces). */
  readonly drop: ReadonlySet<string>;
  readonly set: readonly (readonly [string, string])[];
  /** The securityHeaders preset: added only when the upstream did not send the header. */
  readonly defaults: readonly (readonly [string, string])[];
};

/**
 * Routes by host, as nginx's server blocks: a request's Host picks the routes of that exact host,
 * else of the longest matching `*.` pattern, else the routes without a host (the default server).
 * Each list is sorted longest prefix first. Absent when no route names a host.
 */
export type HostTable = {
  readonly exact: ReadonlyMap<string, readonly Route[]>;
  /** `.example.com` for `*.example.com`, longest first. */
  readonly wildcard: readonly { readonly suffix: string; readonly routes: readonly Route[] }[];
  readonly any: readonly Route[];
};

export type SessionSettings = {
  /** Newest first; undefined when no login is configured (a random one is used then). */
  readonly secrets: readonly string[] | undefined;
  readonly store: 'memory' | 'redis';
  readonly redis: RawSession['redis'];
  readonly maxAgeMs: number;
  readonly idleMs: number;
  readonly cacheMs: number;
  /** How often the sessions of open terminals are looked for in the store. */
  readonly terminalCheckMs: number;
  readonly cookieName: string;
  readonly maxEntries: number;
};

export type Config = {
  readonly source: string;
  readonly sourceHash: string;
  readonly file: string | undefined;
  /** The folder relative paths in the file are read from (the file's own folder). */
  readonly baseDir: string;
  readonly loadedAt: Date;
  readonly raw: RawConfig;
  readonly listen: {
    readonly host: string;
    readonly port: number;
    /** `http2`: ALPN offers h2 beside http/1.1 (default true). */
    readonly tls?: { readonly cert: string; readonly key: string; readonly http2: boolean };
  };
  readonly publicUrl: URL | undefined;
  readonly trustProxy: BlockList | undefined;
  readonly routes: readonly Route[];
  /** Routes by host; undefined when no route names one (then `routes` serve every host). */
  readonly hosts: HostTable | undefined;
  readonly session: SessionSettings;
  readonly identityProviders: readonly RawIdentityProvider[];
  /**
   * The identity provider whose users and groups keep bare names; everyone else's are qualified
   * `<idp>:<name>` so a partner IdP cannot claim a primary user's name or group.
   */
  readonly primaryIdp: string | undefined;
  /** Names of Portico's own cookies: removed from the Cookie header before any upstream sees it. */
  readonly ownCookies: readonly string[];
  /** Substrings one of which every own cookie name contains: the Cookie header's quick test. */
  readonly ownCookieProbes: readonly string[];
  /** Lower-case, `-` spelled names of every header Portico injects: stripped from every request. */
  readonly identityHeaderNames: ReadonlySet<string>;
  /** The ids of the configured identity providers: a session of one a reload removed is over. */
  readonly identityProviderIds: ReadonlySet<string>;
  /** Each provider's source (config/providerSource.ts): a session made at another one is over. */
  readonly identityProviderSources: ReadonlyMap<string, string>;
  readonly apiKeys: readonly ApiKey[];
  readonly identityHeaders: {
    readonly user: string;
    readonly email: string;
    readonly groups: string;
    readonly name: string;
  };
  readonly jwt: { readonly header: string; readonly ttlMs: number };
  readonly logging: {
    readonly level: string;
    readonly accessLog: boolean;
    readonly accessLogFlushMs: number;
  };
  readonly limits: {
    readonly headersTimeoutMs: number;
    readonly requestTimeoutMs: number;
    /** Time for the body of a request to Portico's own endpoints (sign-in forms, OP, admin API). */
    readonly ownBodyTimeoutMs: number;
    /** Sign-ins one client address (IPv6: its /64) may start in a minute; 0: no limit. */
    readonly signInStartsPerMinute: number;
    readonly maxHeaderSize: number;
    readonly maxUrlLength: number;
    /** `limits.maxBodySize` in bytes; 0: no limit. Routes carry the value that applies to them. */
    readonly maxBodySize: number;
  };
};

/** A Portico API key for machine clients of proxied routes (SPEC §5), stored as a hash. */
export type ApiKey = NonNullable<RawConfig['apiKeys']>[number];
