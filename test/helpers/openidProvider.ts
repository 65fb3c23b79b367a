import { EventEmitter, once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import { createRemoteJWKSet, type JWTPayload, jwtVerify } from 'jose';
import * as oc from 'openid-client';
import { oidcProviderFeature } from '../../gateway/oidcProvider/oidcProviderFeature.ts';
import type { FeatureFactory } from '../../gateway/server.ts';
import { type GatewayClient, type SsoSetup, startSso } from './sso.ts';

/** A client of Portico's OpenID Provider as routes.yaml declares it (secrets come from the env). */
export type OpClient = {
  id: string;
  secret: string;
  redirectUris: string[];
  postLogoutRedirectUris?: string[];
  backchannelLogoutUri?: string;
  allow?: string;
  pkce?: 'required' | 'optional';
  tokenEndpointAuthMethod?: 'client_secret_basic' | 'client_secret_post';
  scopes?: string[];
};

export type OpSetup = SsoSetup & { issuer: string; clients: OpClient[] };

/** The environment variable a client's secret is read from: OP_SECRET_<ID>. */
export const secretVariable = (c: Pick<OpClient, 'id'>) =>
  `OP_SECRET_${c.id.replace(/[^A-Za-z0-9]/g, '_').toUpperCase()}`;

/** `oidcProvider:` for routes.yaml, each secret read from the environment. */
export function oidcProviderYaml(clients: OpClient[]): string {
  const lines = clients.map((c) => {
    const parts = [
      `id: ${c.id}`,
      `secret: "\${${secretVariable(c)}}"`,
      `redirectUris: [${c.redirectUris.map((u) => `"${u}"`).join(', ')}]`,
    ];
    if (c.postLogoutRedirectUris)
      parts.push(`postLogoutRedirectUris: [${c.postLogoutRedirectUris.map((u) => `"${u}"`).join(', ')}]`);
    if (c.backchannelLogoutUri) parts.push(`backchannelLogoutUri: "${c.backchannelLogoutUri}"`);
    if (c.allow) parts.push(`allow: ${c.allow}`);
    if (c.pkce) parts.push(`pkce: ${c.pkce}`);
    if (c.tokenEndpointAuthMethod) parts.push(`tokenEndpointAuthMethod: ${c.tokenEndpointAuthMethod}`);
    if (c.scopes) parts.push(`scopes: [${c.scopes.join(', ')}]`);
    return `    - { ${parts.join(', ')} }`;
  });
  return `oidcProvider:\n  clients:\n${lines.join('\n')}\n`;
}

export function secretsEnv(clients: OpClient[]): NodeJS.ProcessEnv {
  return Object.fromEntries(clients.map((c) => [secretVariable(c), c.secret]));
}

/**
 * The demo IdP, and Portico signing users in through it with its OpenID Provider on and `clients`
 * declared. `identityProviders` lines in `extraIdps` are added after the OIDC one.
 */
export async function startOp(
  t: TestContext,
  clients: OpClient[],
  options: {
    store?: 'memory' | 'redis';
    redisUrl?: string;
    keyPrefix?: string;
    port?: number;
    extraIdps?: string;
    /** More top-level routes.yaml (admin:, …), after oidcProvider:. */
    extra?: string;
    env?: NodeJS.ProcessEnv;
    features?: FeatureFactory[];
    idp?: SsoSetup['idp'];
    session?: Record<string, string>;
  } = {},
): Promise<OpSetup> {
  const s = await startSso(
    t,
    '  - { id: app, path: /app/, upstream: "http://127.0.0.1:9/", auth: required }\n',
    {
      store: options.store,
      redisUrl: options.redisUrl,
      keyPrefix: options.keyPrefix,
      port: options.port,
      idp: options.idp,
      session: options.session,
      extra: `${options.extraIdps ?? ''}${oidcProviderYaml(clients)}${options.extra ?? ''}`,
      features: [oidcProviderFeature, ...(options.features ?? [])],
      env: { ...secretsEnv(clients), ...options.env },
    },
  );
  return { ...s, issuer: `${s.publicUrl}/_portico/oidc`, clients };
}

/** openid-client as a relying party of Portico's issuer, authenticating as `method` says. */
export async function relyingParty(
  issuer: string,
  client: OpClient,
  method: 'basic' | 'post' = 'basic',
): Promise<oc.Configuration> {
  return oc.discovery(
    new URL(issuer),
    client.id,
    { redirect_uris: client.redirectUris },
    method === 'basic' ? oc.ClientSecretBasic(client.secret) : oc.ClientSecretPost(client.secret),
    { execute: [oc.allowInsecureRequests] },
  );
}

export type Hop = { status: number; path: string; setCookie: string[] };

/**
 * Plays a browser from `start` through every redirect on Portico's own origin, and returns the
 * first redirect that leaves it (to the client, or to the upstream IdP) with the hops on the way.
 * Any answer that is not a redirect is a page the user would have seen: it throws.
 */
export async function followToClient(
  browser: GatewayClient,
  start: string | URL,
): Promise<{ location: URL; hops: Hop[] }> {
  const origin = new URL(browser.base).origin;
  let url = new URL(start, browser.base);
  const hops: Hop[] = [];
  for (let i = 0; i < 15; i++) {
    const r = await browser.request(url.href);
    hops.push({
      status: r.status,
      path: url.pathname,
      setCookie: ([] as string[]).concat(r.headers['set-cookie'] ?? []),
    });
    const location = r.headers.location;
    if (r.status < 300 || r.status >= 400 || !location)
      throw new Error(`a page was shown at ${url.pathname}: ${r.status} ${r.text.slice(0, 300)}`);
    const next = new URL(location, url);
    if (next.origin !== origin) return { location: next, hops };
    url = next;
  }
  throw new Error('too many redirects');
}

/** An authorization request for `client` with PKCE, state and nonce, and what redeeming needs. */
export async function authorizationRequest(
  config: oc.Configuration,
  client: OpClient,
  options: { scope?: string; pkce?: boolean; redirectUri?: string } = {},
) {
  const state = oc.randomState();
  const nonce = oc.randomNonce();
  const verifier = oc.randomPKCECodeVerifier();
  const params: Record<string, string> = {
    redirect_uri: options.redirectUri ?? client.redirectUris[0]!,
    scope: options.scope ?? 'openid profile email groups',
    state,
    nonce,
  };
  if (options.pkce !== false) {
    params.code_challenge = await oc.calculatePKCECodeChallenge(verifier);
    params.code_challenge_method = 'S256';
  }
  const url = oc.buildAuthorizationUrl(config, params);
  return {
    url,
    redeem: (callback: URL) =>
      oc.authorizationCodeGrant(config, callback, {
        pkceCodeVerifier: options.pkce === false ? undefined : verifier,
        expectedState: state,
        expectedNonce: nonce,
      }),
  };
}

export type LogoutReceiver = {
  url: string;
  /** Logout tokens received, in order. */
  tokens: string[];
  /** Resolves with the next logout token to arrive (or one that already did, beyond `seen`). */
  next(seen?: number): Promise<string>;
  /** Verifies a logout token against Portico's JWKS as a client would. */
  verify(token: string, issuer: string, clientId: string): Promise<JWTPayload>;
};

/** A real back-channel logout endpoint on 127.0.0.1:0 that records every logout_token it gets. */
export async function startLogoutReceiver(t: Pick<TestContext, 'after'>): Promise<LogoutReceiver> {
  const tokens: string[] = [];
  const events = new EventEmitter();
  const server = createServer(async (req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const token = new URLSearchParams(Buffer.concat(chunks).toString()).get('logout_token');
    if (req.method !== 'POST' || !token) {
      res.writeHead(400).end();
      return;
    }
    tokens.push(token);
    res.writeHead(200).end();
    events.emit('token');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/backchannel-logout`,
    tokens,
    async next(seen = tokens.length) {
      while (tokens.length <= seen) await once(events, 'token');
      return tokens[seen]!;
    },
    async verify(token, issuer, clientId) {
      const jwks = createRemoteJWKSet(new URL(`${issuer}/jwks`));
      const { payload } = await jwtVerify(token, jwks, {
        issuer,
        audience: clientId,
        typ: 'logout+jwt',
      });
      return payload;
    },
  };
}
