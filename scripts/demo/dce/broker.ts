// ghippo's Keycloak, realm `ghippo`, as far as the AI platform's sign-in needs it: an identity
// broker under `/auth/realms/<realm>/…` whose users all come from identity providers registered
// in the realm, which keeps its own SSO session and signs its own RS256 tokens with issuer
// `<reverseProxy>/auth/realms/<realm>`.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { authorizationEndpoint } from './authorizationEndpoint.ts';
import { backchannelLogout } from './backchannelLogout.ts';
import type { BrokerContext, RealmClient } from './brokerContext.ts';
import { sendOAuthJson } from './brokerHttp.ts';
import { messagePage, sendPage } from './brokerPages.ts';
import { createBrokerStore } from './brokerStore.ts';
import { discoveryDocument } from './discovery.ts';
import { brokerCallback, brokerLogin, brokerLogoutResponse } from './identityBroker.ts';
import { createIdentityProvider, type IdentityProviderOptions } from './identityProvider.ts';
import { logoutEndpoint } from './logoutEndpoint.ts';
import { createRealmTokens } from './realmTokens.ts';
import { realmUrls } from './realmUrls.ts';
import { createSigningKey, type SigningKey } from './signingKey.ts';
import { tokenEndpoint } from './tokenEndpoint.ts';
import { userinfoEndpoint } from './userinfoEndpoint.ts';

export type BrokerOptions = {
  /** ghippo's `global.reverseProxy`: the platform's public root, e.g. http://localhost:8080/dce5. */
  reverseProxy: string;
  realm?: string;
  /** Identity providers registered in the realm, in the order the login page lists them. */
  identityProviders?: IdentityProviderOptions[];
  /** The public clients (PKCE) of the realm; default: `ghippo`, redirecting anywhere under reverseProxy. */
  clients?: RealmClient[];
  /** Default 300 s (Keycloak's default access token lifespan). */
  accessTokenTtlSeconds?: number;
  /** Default 10 h (Keycloak's default SSO Session Max). */
  sessionTtlSeconds?: number;
  /** The realm's signing key; default a fresh one. */
  key?: SigningKey;
};

export type Broker = BrokerContext & {
  /** Answers a request whose path is under the realm's local path; false for any other path. */
  handle(req: IncomingMessage, res: ServerResponse, path: string): boolean;
};

type Endpoint = (ctx: BrokerContext, req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

const OIDC: Record<string, { methods: string[]; run: Endpoint }> = {
  '/.well-known/openid-configuration': {
    methods: ['GET', 'HEAD'],
    run: (ctx, _req, res) => sendOAuthJson(res, 200, discoveryDocument(ctx.urls)),
  },
  '/protocol/openid-connect/auth': { methods: ['GET'], run: authorizationEndpoint },
  '/protocol/openid-connect/token': { methods: ['POST'], run: tokenEndpoint },
  '/protocol/openid-connect/certs': {
    methods: ['GET', 'HEAD'],
    run: (ctx, _req, res) => sendOAuthJson(res, 200, ctx.key.jwks),
  },
  '/protocol/openid-connect/userinfo': { methods: ['GET', 'POST'], run: userinfoEndpoint },
  '/protocol/openid-connect/logout': { methods: ['GET', 'POST'], run: logoutEndpoint },
  '/protocol/openid-connect/logout/backchannel-logout': { methods: ['POST'], run: backchannelLogout },
};

const BROKER = /^\/broker\/([A-Za-z0-9_-]+)\/(login|endpoint|endpoint\/logout_response)$/;

export async function createBroker(o: BrokerOptions): Promise<Broker> {
  const urls = realmUrls(o.reverseProxy, o.realm);
  const accessTokenTtlSeconds = o.accessTokenTtlSeconds ?? 300;
  const sessionTtlSeconds = o.sessionTtlSeconds ?? 10 * 3600;
  const key = o.key ?? (await createSigningKey());
  const store = createBrokerStore({ sessionTtlMs: sessionTtlSeconds * 1000 });
  const providers = new Map<string, ReturnType<typeof createIdentityProvider>>();
  for (const p of o.identityProviders ?? []) {
    if (providers.has(p.alias)) throw new Error(`identity provider alias "${p.alias}" is registered twice`);
    providers.set(p.alias, createIdentityProvider(p));
  }
  const rootPrefix = `${o.reverseProxy.replace(/\/+$/, '')}/`;
  const clients = new Map(
    (o.clients ?? [{ clientId: 'ghippo', redirectPrefix: rootPrefix }]).map((c) => [c.clientId, c]),
  );
  const tokens = createRealmTokens({
    issuer: urls.issuer,
    key,
    store,
    accessTokenTtlSeconds,
    sessionTtlSeconds,
  });
  const ctx: BrokerContext = { urls, key, store, tokens, providers, clients };

  const route = (method: string, rest: string): Endpoint | 'method' | undefined => {
    const known = OIDC[rest];
    if (known) return known.methods.includes(method) ? known.run : 'method';
    const m = BROKER.exec(rest);
    if (!m) return undefined;
    if (method !== 'GET') return 'method';
    const alias = m[1]!;
    if (m[2] === 'login') return (c, req, res) => brokerLogin(c, req, res, alias);
    if (m[2] === 'endpoint') return (c, req, res) => brokerCallback(c, req, res, alias);
    return brokerLogoutResponse;
  };

  return {
    ...ctx,
    handle(req, res, path) {
      if (path !== urls.localPath && !path.startsWith(`${urls.localPath}/`)) return false;
      const endpoint = route(req.method ?? 'GET', path.slice(urls.localPath.length));
      if (endpoint === undefined) {
        sendPage(res, 404, messagePage('页面不存在 · Page not found', 'Page not found'));
        return true;
      }
      if (endpoint === 'method') {
        res.writeHead(405, { allow: 'GET, POST', 'content-length': '0' });
        res.end();
        return true;
      }
      Promise.resolve(endpoint(ctx, req, res)).catch((err: unknown) => {
        if (res.headersSent) return void res.destroy();
        sendPage(
          res,
          500,
          messagePage('出错了 · Error', 'An internal server error has occurred', (err as Error).message),
        );
      });
      return true;
    },
  };
}
