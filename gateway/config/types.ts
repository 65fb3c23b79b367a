import type { Agent as HttpAgent } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import type { BlockList } from 'node:net';

/** routes.yaml as written (after env interpolation and schema validation). */
export type RawRoute = {
  id: string;
  path: string;
  upstream: string;
  tls?: { insecureSkipVerify?: boolean; ca?: string; serverName?: string; cert?: string; key?: string };
  websocket?: boolean;
  preserveHost?: boolean;
  timeouts?: { connect?: string | number; idle?: string | number };
  auth?: 'required' | 'optional' | 'none';
  allow?: {
    groups?: string[];
    emails?: string[];
    domains?: string[];
    users?: string[];
    idps?: string[];
    claims?: Record<string, string | string[] | boolean>;
  };
  inject?: { headers?: boolean; jwt?: boolean; accessToken?: boolean };
  rewrite?: { location?: boolean; cookiePath?: boolean };
  branding?: boolean;
  nav?: { title: string | Record<string, string>; order?: number; icon?: string; path?: string };
};

export type RawIdentityProvider = {
  id: string;
  type: 'oidc' | 'github' | 'google' | 'gitlab' | 'ldap' | 'saml';
  name?: string | Record<string, string>;
  [key: string]: unknown;
};

export type RawConfig = {
  listen?: { host?: string; port?: number; tls?: { cert: string; key: string } };
  publicUrl?: string;
  trustProxy?: boolean | string[];
  session?: {
    secret?: string | string[];
    store?: 'memory' | 'redis';
    redis?: Record<string, unknown> & { url?: string };
    maxAge?: string | number;
    idleTimeout?: string | number;
    cookieName?: string;
    maxEntries?: number;
  };
  identityProviders?: RawIdentityProvider[];
  identity?: {
    headers?: { user?: string; email?: string; groups?: string; name?: string };
    jwt?: { header?: string; ttl?: string | number; keys?: Record<string, unknown> };
  };
  routes?: RawRoute[];
  apiKeys?: ApiKey[];
  logging?: { level?: string; accessLog?: boolean; format?: 'json' | 'pretty' };
  limits?: {
    headersTimeout?: string | number;
    requestTimeout?: string | number;
    maxHeaderSize?: number;
    maxUrlLength?: number;
  };
  [key: string]: unknown;
};

/** A route compiled at load time: everything the hot path needs is precomputed here. */
export type Route = {
  readonly id: string;
  /** The configured prefix, e.g. `/dce5/` or `/`. */
  readonly prefix: string;
  /** The prefix without its trailing slash (`/dce5`), sent as X-Forwarded-Prefix. */
  readonly prefixBare: string;
  readonly upstream: URL;
  /** The upstream's path, which replaces the matched prefix (`/` for `https://h:p/`). */
  readonly upstreamBasePath: string;
  /** `host:port` of the upstream, for `preserveHost: false`. */
  readonly upstreamHost: string;
  /** Origins whose Location headers are rewritten (`https://h:p`, and without the default port). */
  readonly upstreamOrigins: readonly string[];
  readonly secure: boolean;
  readonly agent: HttpAgent | HttpsAgent;
  readonly tlsOptions: Readonly<Record<string, unknown>>;
  readonly websocket: boolean;
  readonly preserveHost: boolean;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly auth: 'required' | 'optional' | 'none';
  readonly allow: RawRoute['allow'] | undefined;
  readonly inject: { readonly headers: boolean; readonly jwt: boolean; readonly accessToken: boolean };
  readonly rewriteLocation: boolean;
  readonly rewriteCookiePath: boolean;
  readonly branding: boolean;
  readonly nav: RawRoute['nav'] | undefined;
};

export type Config = {
  readonly source: string;
  readonly sourceHash: string;
  readonly file: string | undefined;
  readonly loadedAt: Date;
  readonly raw: RawConfig;
  readonly listen: {
    readonly host: string;
    readonly port: number;
    readonly tls?: { cert: string; key: string };
  };
  readonly publicUrl: URL | undefined;
  readonly trustProxy: BlockList | undefined;
  readonly routes: readonly Route[];
  /** Lower-case, `-` spelled names of every header Portico injects: stripped from every request. */
  readonly identityHeaderNames: ReadonlySet<string>;
  readonly apiKeys: readonly ApiKey[];
  readonly identityHeaders: {
    readonly user: string;
    readonly email: string;
    readonly groups: string;
    readonly name: string;
  };
  readonly jwt: { readonly header: string; readonly ttlMs: number };
  readonly logging: { readonly level: string; readonly accessLog: boolean };
  readonly limits: {
    readonly headersTimeoutMs: number;
    readonly requestTimeoutMs: number;
    readonly maxHeaderSize: number;
    readonly maxUrlLength: number;
  };
};

/** A Portico API key for machine clients of proxied routes (SPEC §5), stored as a hash. */
export type ApiKey = {
  id: string;
  hash: string;
  username?: string;
  email?: string;
  name?: string;
  groups?: string[];
};
