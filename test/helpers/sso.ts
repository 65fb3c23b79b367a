import { parseSetCookie } from 'cookie';
import { freePort } from './ports.ts';
import type { TestContext } from 'node:test';
import type { OutgoingHttpHeaders } from 'node:http';
import type { Logger } from 'pino';
import type { FeatureFactory } from '../../gateway/server.ts';
import { startGateway, type StartedGateway } from './gateway.ts';
import { type RawResponse, send } from './http.ts';
import { CookieJar, driveLogin, type Idp, type IdpClient, type IdpOptions, startTestIdp } from './idp.ts';

export const SESSION_SECRET = 'test-session-secret-0123456789abcdef0123456789';

/**
 * A browser without a browser: one cookie jar for the gateway, requests sent byte for byte.
 * Redirects are not followed, so tests can look at each hop.
 */
export class GatewayClient {
  readonly base: string;
  cookies = new Map<string, string>();
  constructor(base: string) {
    this.base = base;
  }
  cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
  async request(
    target: string,
    options: { method?: string; headers?: OutgoingHttpHeaders; body?: string } = {},
  ): Promise<RawResponse> {
    const url = new URL(target, this.base);
    const headers: OutgoingHttpHeaders = { accept: 'text/html', ...options.headers };
    if (this.cookies.size > 0 && headers.cookie === undefined) headers.cookie = this.cookieHeader();
    const r = await send(this.base, url.pathname + url.search, {
      method: options.method,
      headers,
      body: options.body,
    });
    for (const line of ([] as string[]).concat(r.headers['set-cookie'] ?? [])) {
      // Kept as sent, as a browser sends it back; a past expiry or an empty value removes it.
      const c = parseSetCookie(line, { decode: (v) => v });
      if (!c.name) continue;
      const expired =
        (c.maxAge !== undefined && c.maxAge <= 0) ||
        (c.expires !== undefined && c.expires.getTime() <= Date.now());
      if (expired || !c.value) this.cookies.delete(c.name);
      else this.cookies.set(c.name, c.value);
    }
    return r;
  }
  /** Follows redirects on the gateway's own origin; stops at the first one that leaves it. */
  async follow(target: string, max = 10): Promise<RawResponse & { url: string }> {
    let url = new URL(target, this.base).href;
    for (let i = 0; i < max; i++) {
      const r = await this.request(url);
      const loc = r.headers.location;
      if (r.status >= 300 && r.status < 400 && loc) {
        const next = new URL(loc, url);
        if (next.origin !== new URL(this.base).origin) return { ...r, url };
        url = next.href;
        continue;
      }
      return { ...r, url };
    }
    throw new Error('too many redirects');
  }
}

export type SsoSetup = { idp: Idp; gw: StartedGateway; port: number; publicUrl: string; yaml: string };

/** A real IdP and a gateway wired to it with publicUrl on a known free port. */
export async function startSso(
  t: TestContext,
  routes: string,
  options: {
    store?: 'memory' | 'redis';
    redisUrl?: string;
    extra?: string;
    idp?: Idp;
    port?: number;
    clientId?: string;
    keyPrefix?: string;
    /** Features started with the gateway (the OpenID Provider, admin, …). */
    features?: FeatureFactory[];
    env?: NodeJS.ProcessEnv;
    /** The gateway's logger, e.g. one whose lines a test reads. */
    logger?: Logger;
    /** More `session:` keys, e.g. `idleTimeout: 3s`. */
    session?: Record<string, string>;
  } = {},
): Promise<SsoSetup> {
  const port = options.port ?? (await freePort());
  const publicUrl = `http://127.0.0.1:${port}`;
  const clientId = options.clientId ?? 'portico';
  const idp =
    options.idp ??
    (await startTestIdp(t, {
      clients: [
        {
          ...porticoClient(publicUrl, clientId),
          backchannelLogoutUri: `${publicUrl}/_portico/backchannel-logout/corp`,
        },
      ],
      logErrors: false,
    }));
  const store = options.store ?? 'memory';
  const redisUrl = options.redisUrl ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const yaml = `publicUrl: ${publicUrl}
session:
  secret: ${SESSION_SECRET}
  store: ${store}
${Object.entries(options.session ?? {})
  .map(([k, v]) => `  ${k}: ${v}\n`)
  .join(
    '',
  )}${store === 'redis' ? `  redis: { url: "${redisUrl}", keyPrefix: "${options.keyPrefix ?? `t${port}:`}" }\n` : ''}identityProviders:
  - { id: corp, type: oidc, name: Customer SSO, issuer: "${idp.issuer}", clientId: ${clientId}, clientSecret: portico-secret, scopes: [openid, profile, email, groups, offline_access] }
${options.extra ?? ''}routes:
${routes}`;
  const gw = await startGateway(t, yaml, {
    port,
    features: options.features,
    env: options.env,
    logger: options.logger,
  });
  return { idp, gw, port, publicUrl, yaml };
}

/** Signs a user in through the gateway and the IdP as a browser would, returning the client. */
export async function login(
  setup: SsoSetup,
  user: string,
  start = '/dce5/',
  client = new GatewayClient(setup.gw.url),
  idpJar = new CookieJar(),
) {
  const first = await client.follow(start);
  const authorizationUrl = first.headers.location;
  if (!authorizationUrl?.startsWith(setup.idp.issuer))
    throw new Error(`expected a redirect to the IdP, got ${first.status} ${authorizationUrl}`);
  const back = await driveLogin(setup.idp, authorizationUrl, { username: user, password: user }, idpJar);
  const landed = await client.follow(back.location);
  return { client, landed, idpJar, formShown: back.formShown, callback: back.location };
}

/** Signs out as a person would: the confirmation page, then its form (with its token). */
export async function logout(client: GatewayClient, origin?: string, rd = '/') {
  const page = await client.request('/_portico/logout');
  const csrf = /name="csrf" value="([^"]*)"/.exec(page.text)?.[1] ?? '';
  return client.request('/_portico/logout', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(origin ? { origin } : {}) },
    body: `rd=${encodeURIComponent(rd)}&csrf=${encodeURIComponent(csrf)}`,
  });
}

export { freePort };

/** The headers that carry who the user is to an upstream: a client must never be able to set them. */
export const IDENTITY_HEADERS = [
  'X-Forwarded-User',
  'X-Forwarded-Email',
  'X-Forwarded-Groups',
  'X-Forwarded-Preferred-Username',
  'X-Portico-Assertion',
];

/**
 * The gateway at `publicUrl` as a client of a test IdP (secret `portico-secret`): the callback
 * and the signed-out page of its provider `idpId` (`corp` unless said).
 */
export function porticoClient(publicUrl: string, clientId = 'portico', idpId = 'corp'): IdpClient {
  return {
    clientId,
    clientSecret: 'portico-secret',
    redirectUris: [`${publicUrl}/_portico/callback/${idpId}`],
    postLogoutRedirectUris: [`${publicUrl}/_portico/logged-out`],
  };
}

/**
 * A test IdP whose one client is the gateway at `publicUrl` (porticoClient), as its provider
 * `idpId`; `options` add users, lifetimes…
 */
export function startIdpFor(
  t: Pick<TestContext, 'after'>,
  publicUrl: string,
  options: IdpOptions = {},
  idpId = 'corp',
): Promise<Idp> {
  return startTestIdp(t, {
    clients: [porticoClient(publicUrl, 'portico', idpId)],
    logErrors: false,
    ...options,
  });
}
