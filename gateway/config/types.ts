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
  readonly upstream: URL;
  /** The upstream's path, which replaces the matched prefix (`/` for `https://h:p/`). */
  readonly upstreamBasePath: string;
  /** `host:port` of the upstream, for `preserveHost: false`. */
  readonly upstreamHost: string;
  /** Origins whose Location headers are rewritten (`https://h:p`, and without the default port). */
  readonly upstreamOrigins: readonly string[];
  readonly secure: boolean;
  /** TLS settings towards the upstream as written; files are read by the gateway, not the compiler. */
  readonly tls: RawRoute['tls'] | undefined;
  readonly websocket: boolean;
  readonly preserveHost: boolean;
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly auth: 'required' | 'optional' | 'none';
  /** `passthrough`: Authorization belongs to the upstream; `verify`: Portico checks bearer tokens. */
  readonly bearer: 'passthrough' | 'verify';
  readonly allow: AllowRules | undefined;
  readonly inject: { readonly headers: boolean; readonly jwt: boolean; readonly accessToken: boolean };
  readonly rewriteLocation: boolean;
  readonly rewriteCookiePath: boolean;
  readonly branding: boolean;
  readonly nav: RawRoute['nav'] | undefined;
  /** `kc_idp_hint` added to browser requests for the upstream Keycloak's authorization endpoint. */
  readonly keycloakIdpHint: string | undefined;
};

export type SessionSettings = {
  /** Newest first; undefined when no login is configured (a random one is used then). */
  readonly secrets: readonly string[] | undefined;
  readonly store: 'memory' | 'redis';
  readonly redis: RawSession['redis'];
  readonly maxAgeMs: number;
  readonly idleMs: number;
  readonly cacheMs: number;
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
    readonly tls?: { readonly cert: string; readonly key: string };
  };
  readonly publicUrl: URL | undefined;
  readonly trustProxy: BlockList | undefined;
  readonly routes: readonly Route[];
  readonly session: SessionSettings;
  readonly identityProviders: readonly RawIdentityProvider[];
  /**
   * The identity provider whose users and groups keep bare names; everyone else's are qualified
   * `<idp>:<name>` so a partner IdP cannot claim a primary user's name or group.
   */
  readonly primaryIdp: string | undefined;
  /** Names of Portico's own cookies: removed from the Cookie header before any upstream sees it. */
  readonly ownCookies: readonly string[];
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
export type ApiKey = NonNullable<RawConfig['apiKeys']>[number];
