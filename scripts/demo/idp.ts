// A real OpenID Connect provider (the `oidc-provider` package) playing the customer's IdP: the
// `npm start` demo signs in through it, and the test suites use it as the IdP under test.
// Plain HTTP on loopback, in-memory storage, its own login page (no consent screen: access is
// granted on sign-in, so a second authorization with the same IdP session is silent),
// RP-initiated and back-channel logout, refresh tokens, introspection/revocation, and JWT access
// tokens for machine clients (client_credentials with resource=urn:portico:api).
import { parseSetCookie } from 'cookie';
import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type ServerResponse,
} from 'node:http';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
// @ts-expect-error -- oidc-provider ships no type declarations; the few members used are typed below.
import Provider, { errors as oidcErrors } from 'oidc-provider';
import { closeServer, escapeHtml, listen, readBody } from './common.ts';
import type { OidcGrant, OidcInteraction, OidcProvider } from '../../gateway/oidcProvider/types.ts';

// ---------------------------------------------------------------------------------------------
// Public types

export type DemoUser = {
  /** The `sub` claim. */
  id: string;
  username: string;
  password: string;
  email: string;
  name: string;
  groups: string[];
  /**
   * Google Workspace hosted domain (claimsShape 'google'); defaults to the e-mail domain there.
   * Null for a consumer account, which carries no `hd`.
   */
  hd?: string | null;
  /** The `email_verified` claim; default true. */
  emailVerified?: boolean;
};

export type IdpClient = {
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
  postLogoutRedirectUris?: string[];
  /** Receives a logout_token (with `sid`) when the user signs out at the IdP. */
  backchannelLogoutUri?: string;
  /** Default client_secret_basic; the IdP accepts client_secret_post from it as well. */
  tokenEndpointAuthMethod?: 'client_secret_basic' | 'client_secret_post';
  /**
   * Default true. False for a confidential client that does not send PKCE, as a Keycloak broker
   * does unless its "Use PKCE" switch is on.
   */
  pkceRequired?: boolean;
};

/**
 * Which claims come with which scope. `keycloak`: a client with Keycloak's group-membership mapper,
 * which puts `groups` in every token without a `groups` scope (Keycloak refuses unknown scopes).
 */
export type ClaimsShape = 'generic' | 'google' | 'gitlab' | 'keycloak';

export type IdpOptions = {
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Listen address; defaults to 127.0.0.1. */
  host?: string;
  /** Host name in the issuer; defaults to `host` (the demo may prefer `localhost`). */
  issuerHost?: string;
  /** Path under which the provider is mounted, e.g. '/oidc' (default '': the issuer is the origin). */
  issuerPath?: string;
  /** Registered at start; more can be added (or replaced) later with `idp.setClient`. */
  clients?: IdpClient[];
  /** Defaults to DEFAULT_USERS (alice/alice, bob/bob). */
  users?: DemoUser[];
  /** Seconds; default 300. Also the lifetime of client_credentials tokens. */
  accessTokenTtl?: number;
  /** Seconds; default 3600. */
  idTokenTtl?: number;
  /** Seconds; default 86400. */
  refreshTokenTtl?: number;
  /** Seconds; default 86400. Lifetime of the IdP login session. */
  sessionTtl?: number;
  /** Issue (rotating) refresh tokens on every code exchange; default true. */
  refreshTokens?: boolean;
  claimsShape?: ClaimsShape;
  /** Private RS256 JWK to sign with (e.g. to restart an IdP with the same key); default: a fresh key. */
  signingKey?: JWK;
  /** Log provider server errors to stderr (default true). */
  logErrors?: boolean;
};

export type IdpEndpoints = {
  discovery: string;
  authorization: string;
  token: string;
  userinfo: string;
  jwks: string;
  endSession: string;
  introspection: string;
  revocation: string;
};

export type BackchannelResult = {
  clientId: string;
  accountId: string;
  sid: string;
  ok: boolean;
  error?: string;
};

export type Idp = {
  /** http://127.0.0.1:PORT plus issuerPath, without a trailing slash. */
  issuer: string;
  /** The server's base URL with a trailing slash, e.g. http://127.0.0.1:PORT/. */
  url: string;
  port: number;
  endpoints: IdpEndpoints;
  provider: OidcProvider;
  users: readonly DemoUser[];
  /** The private signing JWK (pass it as `signingKey` to restart with the same keys). */
  signingKey: JWK;
  /** Registers a client, or replaces the one with the same clientId (takes effect at once). */
  setClient(client: IdpClient): void;
  /** Successful password logins so far (silent re-entries do not count). */
  loginCount(): number;
  /** While down, every request (discovery, JWKS, token, login page…) is answered 503. */
  setDown(down: boolean): void;
  /** Forgets every IdP login session: the next authorization shows the login form again. */
  revokeAllSessions(): void;
  /** Outcome of every back-channel logout delivery, in order. */
  backchannelResults: BackchannelResult[];
  /** Errors the provider reported as server_error (a bug in the IdP setup if not empty). */
  serverErrors: Error[];
  close(): Promise<void>;
};

/** The resource indicator whose access tokens are JWTs (RS256, aud = the indicator). */
export const API_RESOURCE = 'urn:portico:api';
export const API_SCOPES = ['api:read', 'api:write'] as const;

export const DEFAULT_USERS: readonly DemoUser[] = Object.freeze([
  {
    id: 'alice',
    username: 'alice',
    password: 'alice',
    email: 'alice@example.com',
    name: 'Alice Zhang',
    groups: ['ai-users', 'staff'],
  },
  {
    id: 'bob',
    username: 'bob',
    password: 'bob',
    email: 'bob@example.com',
    name: 'Bob Li',
    groups: ['staff'],
  },
]);

export const PAGE_TITLE = 'Demo Customer IdP — 客户身份认证';

const FAVICON = Buffer.from(
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#2f6f8f"/>' +
    '<text x="16" y="21" text-anchor="middle" font-family="system-ui,sans-serif" font-size="14" font-weight="700" fill="#fff">ID</text></svg>',
);

// ---------------------------------------------------------------------------------------------
// The slice of oidc-provider's API used here (the package has no type declarations).

type Payload = Record<string, unknown>;

// The provider, its interactions and grants: the same slice as the gateway's OpenID Provider uses.
export type { OidcGrant, OidcInteraction, OidcProvider };

type KoaContext = {
  body: unknown;
  type: string;
  status: number;
  host: string;
  oidc: { client?: { clientId: string } };
};

// ---------------------------------------------------------------------------------------------
// Storage: a per-IdP in-memory adapter (the package's default one warns on every start and
// offers no way to drop all sessions).

type StoredEntry = { payload: Payload; expiresAt: number };

class MemoryStore {
  readonly entries = new Map<string, StoredEntry>();
  readonly grantMembers = new Map<string, Set<string>>();
  readonly sessionUids = new Map<string, string>();
  readonly userCodes = new Map<string, string>();

  get(key: string): Payload | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAt <= Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.payload;
  }

  purgeExpired(): void {
    const now = Date.now();
    for (const [key, entry] of this.entries) if (entry.expiresAt <= now) this.entries.delete(key);
  }

  /** Drops every login session (their grants and tokens stay until they expire or are revoked). */
  dropSessions(): void {
    for (const key of this.entries.keys()) if (key.startsWith('Session:')) this.entries.delete(key);
    this.sessionUids.clear();
  }
}

const GRANTABLE = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
]);

class MemoryAdapter {
  readonly #model: string;
  readonly #store: MemoryStore;

  constructor(model: string, store: MemoryStore) {
    this.#model = model;
    this.#store = store;
  }

  #key(id: string): string {
    return `${this.#model}:${id}`;
  }

  async upsert(id: string, payload: Payload, expiresIn?: number): Promise<void> {
    const key = this.#key(id);
    const expiresAt = typeof expiresIn === 'number' ? Date.now() + expiresIn * 1000 : Infinity;
    if (this.#store.entries.size > 5000) this.#store.purgeExpired();
    this.#store.entries.set(key, { payload, expiresAt });
    if (this.#model === 'Session' && typeof payload.uid === 'string')
      this.#store.sessionUids.set(payload.uid, id);
    if (typeof payload.userCode === 'string') this.#store.userCodes.set(payload.userCode, id);
    if (GRANTABLE.has(this.#model) && typeof payload.grantId === 'string') {
      let members = this.#store.grantMembers.get(payload.grantId);
      if (!members) this.#store.grantMembers.set(payload.grantId, (members = new Set()));
      members.add(key);
    }
  }

  async find(id: string): Promise<Payload | undefined> {
    return this.#store.get(this.#key(id));
  }

  async findByUid(uid: string): Promise<Payload | undefined> {
    const id = this.#store.sessionUids.get(uid);
    return id === undefined ? undefined : this.find(id);
  }

  async findByUserCode(userCode: string): Promise<Payload | undefined> {
    const id = this.#store.userCodes.get(userCode);
    return id === undefined ? undefined : this.find(id);
  }

  async consume(id: string): Promise<void> {
    const payload = this.#store.get(this.#key(id));
    if (payload) payload.consumed = Math.floor(Date.now() / 1000);
  }

  async destroy(id: string): Promise<void> {
    const key = this.#key(id);
    const payload = this.#store.get(key);
    this.#store.entries.delete(key);
    if (payload && typeof payload.uid === 'string' && this.#model === 'Session') {
      this.#store.sessionUids.delete(payload.uid);
    }
  }

  async revokeByGrantId(grantId: string): Promise<void> {
    const members = this.#store.grantMembers.get(grantId);
    if (!members) return;
    for (const key of members) this.#store.entries.delete(key);
    this.#store.grantMembers.delete(grantId);
  }
}

// ---------------------------------------------------------------------------------------------
// Claims

const OIDC_SCOPES = ['openid', 'profile', 'email', 'groups', 'offline_access'];

function claimsConfig(shape: ClaimsShape): Record<string, string[]> {
  const base: Record<string, string[]> = {
    openid: ['sub'],
    profile: ['name', 'preferred_username'],
    email: ['email', 'email_verified'],
    groups: ['groups'],
  };
  if (shape === 'google') base.openid = ['sub', 'hd'];
  if (shape === 'keycloak') base.openid = ['sub', 'groups'];
  if (shape === 'gitlab') {
    // GitLab puts groups_direct in the ID token without a dedicated scope, and has `nickname`.
    base.openid = ['sub', 'groups_direct'];
    base.profile = ['name', 'nickname', 'preferred_username'];
  }
  return base;
}

function userClaims(user: DemoUser, shape: ClaimsShape): Record<string, unknown> {
  const claims: Record<string, unknown> = {
    sub: user.id,
    name: user.name,
    preferred_username: user.username,
    email: user.email,
    email_verified: user.emailVerified ?? true,
    groups: [...user.groups],
  };
  if (shape === 'google' && user.hd !== null)
    claims.hd = user.hd ?? user.email.slice(user.email.indexOf('@') + 1);
  if (shape === 'gitlab') {
    claims.nickname = user.username;
    claims.groups_direct = [...user.groups];
  }
  return claims;
}

// ---------------------------------------------------------------------------------------------
// Pages

const STYLE = `
*{box-sizing:border-box}
body{margin:0;min-height:100vh;display:flex;align-items:center;justify-content:center;
  font-family:system-ui,-apple-system,"Segoe UI","PingFang SC","Microsoft YaHei",sans-serif;
  background:linear-gradient(135deg,#1f3b57 0%,#2f6f8f 100%);color:#1d2733}
.card{width:min(380px,92vw);background:#fff;border-radius:12px;padding:32px 32px 24px;
  box-shadow:0 18px 50px rgba(0,0,0,.25)}
.brand{display:flex;align-items:center;gap:10px;margin-bottom:6px}
.brand .logo{width:34px;height:34px;border-radius:8px;background:#2f6f8f;color:#fff;display:flex;
  align-items:center;justify-content:center;font-weight:700}
h1{font-size:19px;margin:0}
.sub{color:#5b6774;font-size:13px;margin:4px 0 22px}
label{display:block;font-size:13px;font-weight:600;margin:14px 0 6px}
input[type=text],input[type=password]{width:100%;padding:10px 12px;border:1px solid #c5ced8;border-radius:8px;
  font-size:15px}
input:focus{outline:2px solid #2f6f8f;outline-offset:0;border-color:#2f6f8f}
button{margin-top:22px;width:100%;padding:11px;border:0;border-radius:8px;background:#2f6f8f;color:#fff;
  font-size:15px;font-weight:600;cursor:pointer}
button:hover{background:#255a75}
.error{background:#fdecec;color:#a61b1b;border:1px solid #f5c2c2;border-radius:8px;padding:9px 12px;
  font-size:13px;margin-bottom:6px}
.hint{margin-top:18px;font-size:12px;color:#6b7785;border-top:1px solid #eef1f4;padding-top:12px}
.hint code{background:#f1f4f7;padding:1px 5px;border-radius:4px}
a{color:#2f6f8f}
`;

function page(title: string, body: string, extraHead = ''): string {
  return `<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
${extraHead}
</head>
<body>
<main class="card">
<div class="brand"><div class="logo" aria-hidden="true">ID</div><h1>Demo Customer IdP</h1></div>
${body}
</main>
</body>
</html>`;
}

function loginPage(opts: { action: string; clientId: string; username: string; error?: string }): string {
  const error = opts.error
    ? `<div class="error" role="alert" id="login-error">${escapeHtml(opts.error)}</div>`
    : '';
  return page(
    PAGE_TITLE,
    `<p class="sub">客户身份认证 · 登录以继续访问 <strong>${escapeHtml(opts.clientId)}</strong></p>
${error}
<form id="login-form" method="post" action="${escapeHtml(opts.action)}" autocomplete="off">
<label for="username">用户名 Username</label>
<input type="text" id="username" name="username" value="${escapeHtml(opts.username)}" required autofocus autocapitalize="none" spellcheck="false">
<label for="password">密码 Password</label>
<input type="password" id="password" name="password" required>
<button type="submit" id="login-submit">登录 Sign in</button>
</form>
<p class="hint">演示账号 Demo accounts: <code>alice</code> / <code>alice</code>, <code>bob</code> / <code>bob</code></p>`,
  );
}

function messagePage(title: string, message: string): string {
  return page(title, `<p class="sub">${escapeHtml(title)}</p><p>${escapeHtml(message)}</p>`);
}

function sendPage(res: ServerResponse, status: number, html: string): void {
  const body = Buffer.from(html);
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'content-length': String(body.length),
  });
  res.end(body);
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  return new URLSearchParams((await readBody(req)).toString('utf8'));
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

// ---------------------------------------------------------------------------------------------
// The IdP

export async function generateSigningKey(): Promise<JWK> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true, modulusLength: 2048 });
  const jwk = await exportJWK(privateKey);
  return { ...jwk, kid: randomUUID(), alg: 'RS256', use: 'sig' };
}

export async function startIdp(options: IdpOptions): Promise<Idp> {
  const host = options.host ?? '127.0.0.1';
  const issuerPath = (options.issuerPath ?? '').replace(/\/+$/, '');
  if (issuerPath !== '' && !issuerPath.startsWith('/')) throw new Error('issuerPath must start with "/"');
  const users = options.users ?? DEFAULT_USERS;
  const shape = options.claimsShape ?? 'generic';
  const accessTokenTtl = options.accessTokenTtl ?? 300;
  const idTokenTtl = options.idTokenTtl ?? 3600;
  const refreshTokenTtl = options.refreshTokenTtl ?? 86400;
  const sessionTtl = options.sessionTtl ?? 86400;
  const refreshTokens = options.refreshTokens ?? true;
  const logErrors = options.logErrors ?? true;
  const signingKey = options.signingKey ?? (await generateSigningKey());

  let down = false;
  let logins = 0;
  let handle: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const backchannelResults: BackchannelResult[] = [];
  const serverErrors: Error[] = [];
  const store = new MemoryStore();
  const clientsWithoutPkce = new Set<string>();

  const server = createServer((req, res) => {
    if (down || !handle) {
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', 'retry-after': '1' });
      res.end('identity provider unavailable\n');
      return;
    }
    handle(req, res);
  });
  const { url, port } = await listen(server, { port: options.port, host });
  const issuerOrigin = `http://${options.issuerHost ?? host}:${port}`;
  const issuer = issuerOrigin + issuerPath;
  const interactionPrefix = `${issuerPath}/interaction/`;

  const config = {
    adapter: (model: string) => new MemoryAdapter(model, store),
    jwks: { keys: [signingKey] },
    cookies: {
      keys: [randomBytes(32).toString('base64url')],
      // Browsers share cookies across ports of one host: keep ours apart from the gateway's and
      // from other IdPs on 127.0.0.1.
      names: {
        session: `idp${port}_session`,
        interaction: `idp${port}_interaction`,
        resume: `idp${port}_interaction_resume`,
      },
    },
    scopes: OIDC_SCOPES,
    claims: claimsConfig(shape),
    conformIdTokenClaims: false,
    responseTypes: ['code'],
    pkce: {
      required: (_ctx: unknown, client: { clientId: string }) => !clientsWithoutPkce.has(client.clientId),
    },
    ttl: {
      AccessToken: accessTokenTtl,
      AuthorizationCode: 60,
      ClientCredentials: accessTokenTtl,
      IdToken: idTokenTtl,
      RefreshToken: refreshTokenTtl,
      Interaction: 600,
      Session: sessionTtl,
      Grant: Math.max(sessionTtl, refreshTokenTtl),
    },
    issueRefreshToken: async (_ctx: unknown, client: { grantTypeAllowed(t: string): boolean }) =>
      refreshTokens && client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: true,
    findAccount: async (_ctx: unknown, sub: string) => {
      const user = users.find((u) => u.id === sub);
      if (!user) return undefined;
      return { accountId: user.id, claims: async () => userClaims(user, shape) };
    },
    interactions: {
      url: async (_ctx: unknown, interaction: { uid: string }) => `${interactionPrefix}${interaction.uid}`,
    },
    clientBasedCORS: () => true,
    renderError: async (ctx: KoaContext, out: Record<string, string>) => {
      ctx.type = 'html';
      ctx.body = page(
        'Error — Demo Customer IdP',
        `<p class="sub">出错了 Something went wrong</p>${Object.entries(out)
          .map(
            ([k, v]) =>
              `<p><strong>${escapeHtml(k)}</strong>: <span class="${escapeHtml(k)}">${escapeHtml(String(v))}</span></p>`,
          )
          .join('')}`,
      );
    },
    fetch: (target: string, init: RequestInit & { dispatcher?: unknown }) => {
      // oidc-provider refuses loopback targets for back-channel logout (SSRF protection); the
      // clients here live on loopback, so send the request without that dispatcher.
      delete init.dispatcher;
      return fetch(target, init);
    },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true, allowedPolicy: async () => true },
      revocation: { enabled: true, allowedPolicy: async () => true },
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx: KoaContext, form: string) => {
          // The confirmation form says yes by itself and submits itself once loaded: signing out
          // at the gateway signs out here without a question. The button is there for browsers
          // without JavaScript (and for tests that want to click it).
          const formYes = form.replace('</form>', '<input type="hidden" name="logout" value="yes"/></form>');
          ctx.body = page(
            '退出登录 Sign out — Demo Customer IdP',
            `<p class="sub">正在退出登录 Signing you out…</p>
${formYes}
<button type="submit" id="logout-confirm" form="op.logoutForm" name="logout" value="yes">退出 Sign out</button>`,
            `<script>document.addEventListener('DOMContentLoaded',function(){document.getElementById('op.logoutForm').submit()})</script>`,
          );
        },
        postLogoutSuccessSource: async (ctx: KoaContext) => {
          ctx.body = page(
            '已退出 Signed out — Demo Customer IdP',
            '<p class="sub">已退出登录 You are signed out.</p><p id="logout-success">You can close this page.</p>',
          );
        },
      },
      resourceIndicators: {
        enabled: true,
        defaultResource: async (_ctx: unknown, _client: unknown, oneOf?: string[]) => oneOf,
        useGrantedResource: async () => false,
        getResourceServerInfo: async (_ctx: unknown, resource: string) => {
          if (resource !== API_RESOURCE) throw new oidcErrors.InvalidTarget();
          return {
            scope: API_SCOPES.join(' '),
            audience: API_RESOURCE,
            accessTokenTTL: accessTokenTtl,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
  };

  const provider: OidcProvider = new Provider(issuer, config);
  provider.on('server_error', (_ctx: unknown, err: Error) => {
    serverErrors.push(err);
    if (logErrors) console.error('demo IdP server_error:', err);
  });
  provider.on(
    'backchannel.success',
    (_ctx: unknown, client: { clientId: string }, accountId: string, sid: string) => {
      backchannelResults.push({ clientId: client.clientId, accountId, sid, ok: true });
    },
  );
  provider.on(
    'backchannel.error',
    (_ctx: unknown, err: Error, client: { clientId: string }, accountId: string, sid: string) => {
      backchannelResults.push({ clientId: client.clientId, accountId, sid, ok: false, error: err.message });
    },
  );

  const oidcCallback = provider.callback();

  // Clients live in the adapter rather than in the static configuration, so that a test can add
  // one once it knows its redirect URI (the gateway's port) and change one later.
  const setClient = (c: IdpClient) => {
    const metadata: Payload = {
      client_id: c.clientId,
      client_secret: c.clientSecret,
      redirect_uris: c.redirectUris,
      post_logout_redirect_uris: c.postLogoutRedirectUris ?? [],
      response_types: ['code'],
      grant_types: ['authorization_code', 'client_credentials', ...(refreshTokens ? ['refresh_token'] : [])],
      token_endpoint_auth_method: c.tokenEndpointAuthMethod ?? 'client_secret_basic',
      ...(c.backchannelLogoutUri
        ? { backchannel_logout_uri: c.backchannelLogoutUri, backchannel_logout_session_required: true }
        : {}),
    };
    store.entries.set(`Client:${c.clientId}`, { payload: metadata, expiresAt: Infinity });
    if (c.pkceRequired === false) clientsWithoutPkce.add(c.clientId);
    else clientsWithoutPkce.delete(c.clientId);
  };
  for (const c of options.clients ?? []) setClient(c);

  /** A grant covering everything the authorization request asks for (no consent screen). */
  async function grantFor(details: OidcInteraction, accountId: string): Promise<string> {
    const clientId = details.params.client_id!;
    let grant = details.grantId ? await provider.Grant.find(details.grantId) : undefined;
    if (!grant || grant.accountId !== accountId) grant = new provider.Grant({ accountId, clientId });
    const requested = (details.params.scope ?? '').split(' ').filter((s) => OIDC_SCOPES.includes(s));
    if (requested.length) grant.addOIDCScope(requested.join(' '));
    const claimsParam = details.params.claims;
    if (claimsParam) {
      try {
        const parsed = JSON.parse(claimsParam) as Record<string, Record<string, unknown> | null>;
        const names = new Set<string>();
        for (const part of [parsed.userinfo, parsed.id_token])
          if (part) for (const k of Object.keys(part)) names.add(k);
        if (names.size) grant.addOIDCClaims([...names]);
      } catch {
        // the provider has validated it already
      }
    }
    const missing = details.prompt.details ?? {};
    if (missing.missingOIDCScope?.length) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims?.length) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [resource, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      grant.addResourceScope(resource, scopes.join(' '));
    }
    return grant.save();
  }

  async function interaction(req: IncomingMessage, res: ServerResponse, rest: string): Promise<void> {
    const [uid, action, ...extra] = rest.split('/');
    if (!uid || extra.length > 0) {
      sendPage(res, 404, messagePage('Not found', 'No such page.'));
      return;
    }
    let details: OidcInteraction;
    try {
      details = await provider.interactionDetails(req, res);
    } catch {
      sendPage(
        res,
        400,
        messagePage(
          '登录请求已失效 Sign-in request expired',
          'Go back to the application and sign in again.',
        ),
      );
      return;
    }
    if (details.uid !== uid) {
      sendPage(
        res,
        400,
        messagePage('登录请求不匹配 Sign-in request mismatch', 'Go back and sign in again.'),
      );
      return;
    }
    const clientId = details.params.client_id ?? '';
    const formAction = `${interactionPrefix}${uid}/login`;

    if (action === undefined && req.method === 'GET') {
      if (details.prompt.name === 'login') {
        sendPage(
          res,
          200,
          loginPage({ action: formAction, clientId, username: details.params.login_hint ?? '' }),
        );
        return;
      }
      if (details.prompt.name === 'consent' && details.session?.accountId) {
        const grantId = await grantFor(details, details.session.accountId);
        await provider.interactionFinished(
          req,
          res,
          { consent: { grantId } },
          { mergeWithLastSubmission: true },
        );
        return;
      }
      await provider.interactionFinished(
        req,
        res,
        { error: 'access_denied', error_description: `unsupported prompt ${details.prompt.name}` },
        { mergeWithLastSubmission: false },
      );
      return;
    }
    if (action === 'login' && req.method === 'POST') {
      const form = await readForm(req);
      const username = form.get('username') ?? '';
      const password = form.get('password') ?? '';
      const user = users.find((u) => u.username === username);
      if (!user || !sameSecret(user.password, password)) {
        sendPage(
          res,
          401,
          loginPage({
            action: formAction,
            clientId,
            username,
            error: '用户名或密码错误 Invalid username or password.',
          }),
        );
        return;
      }
      logins++;
      const grantId = await grantFor(details, user.id);
      await provider.interactionFinished(
        req,
        res,
        { login: { accountId: user.id }, consent: { grantId } },
        { mergeWithLastSubmission: false },
      );
      return;
    }
    if (action === 'abort' && req.method === 'GET') {
      await provider.interactionFinished(
        req,
        res,
        { error: 'access_denied', error_description: 'End-User aborted interaction' },
        { mergeWithLastSubmission: false },
      );
      return;
    }
    res.writeHead(405, { 'content-type': 'text/plain; charset=utf-8' });
    res.end('method not allowed\n');
  }

  handle = (req, res) => {
    const reqUrl = req.url ?? '/';
    const q = reqUrl.indexOf('?');
    const path = q === -1 ? reqUrl : reqUrl.slice(0, q);
    if (path === '/favicon.ico') {
      // Browsers ask every origin for it; answer with the login page's badge instead of a 404.
      res.writeHead(200, {
        'content-type': 'image/svg+xml',
        'cache-control': 'public, max-age=86400',
        'content-length': String(FAVICON.length),
      });
      res.end(req.method === 'HEAD' ? undefined : FAVICON);
      return;
    }
    if (path.startsWith(interactionPrefix)) {
      interaction(req, res, path.slice(interactionPrefix.length)).catch((err: unknown) => {
        serverErrors.push(err instanceof Error ? err : new Error(String(err)));
        if (logErrors) console.error('demo IdP interaction error:', err);
        if (!res.headersSent) sendPage(res, 500, messagePage('Error', 'The sign-in page failed.'));
        else res.destroy();
      });
      return;
    }
    if (issuerPath !== '') {
      if (path !== issuerPath && !path.startsWith(issuerPath + '/')) {
        res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('not found\n');
        return;
      }
      // What a mounting framework does: oidc-provider derives its mount path from originalUrl.
      const mutable = req as IncomingMessage & { originalUrl?: string };
      mutable.originalUrl = reqUrl;
      req.url = reqUrl.slice(issuerPath.length) || '/';
    }
    oidcCallback(req, res);
  };

  const endpoint = (p: string) => issuer + p;
  return {
    issuer,
    url,
    port,
    endpoints: {
      discovery: endpoint('/.well-known/openid-configuration'),
      authorization: endpoint('/auth'),
      token: endpoint('/token'),
      userinfo: endpoint('/me'),
      jwks: endpoint('/jwks'),
      endSession: endpoint('/session/end'),
      introspection: endpoint('/token/introspection'),
      revocation: endpoint('/token/revocation'),
    },
    provider,
    users,
    signingKey,
    loginCount: () => logins,
    setClient,
    setDown(value: boolean) {
      down = value;
    },
    revokeAllSessions() {
      store.dropSessions();
    },
    backchannelResults,
    serverErrors,
    close: () => closeServer(server),
  };
}

// ---------------------------------------------------------------------------------------------
// Browserless helpers (tests, scripts)

type StoredCookie = { name: string; value: string; hostname: string; path: string; expires: number };

/**
 * A small cookie jar that behaves like a browser for plain loopback HTTP: cookies are host-only,
 * keyed by host name (ports share them, as in browsers), path-matched, and expire.
 */
export class CookieJar {
  readonly #cookies = new Map<string, StoredCookie>();

  /** Records the Set-Cookie headers of a response to `url`. */
  store(url: string | URL, setCookie: string | string[] | undefined): void {
    if (setCookie === undefined) return;
    const u = new URL(url);
    for (const line of Array.isArray(setCookie) ? setCookie : [setCookie]) {
      // The value is kept as sent: a browser sends back exactly what it was given.
      const c = parseSetCookie(line, { decode: (v) => v });
      if (!c.name || c.value === undefined) continue;
      const { name, value } = c;
      const dir = u.pathname.slice(0, u.pathname.lastIndexOf('/'));
      const path = c.path?.startsWith('/') ? c.path : dir === '' ? '/' : dir;
      // Max-Age wins over Expires (RFC 6265 §5.3).
      const expires =
        c.maxAge !== undefined
          ? Date.now() + c.maxAge * 1000
          : c.expires && !Number.isNaN(c.expires.getTime())
            ? c.expires.getTime()
            : Infinity;
      const id = `${u.hostname}|${path}|${name}`;
      if (expires <= Date.now()) this.#cookies.delete(id);
      else this.#cookies.set(id, { name, value, hostname: u.hostname, path, expires });
    }
  }

  /** The Cookie header a browser would send to `url`, or undefined. */
  header(url: string | URL): string | undefined {
    const u = new URL(url);
    const now = Date.now();
    const matching = [...this.#cookies.values()]
      .filter((c) => c.expires > now && c.hostname === u.hostname && pathMatches(u.pathname, c.path))
      .sort((a, b) => b.path.length - a.path.length);
    return matching.length ? matching.map((c) => `${c.name}=${c.value}`).join('; ') : undefined;
  }

  /** The cookies stored for a host name, for assertions. */
  list(hostname?: string): { name: string; value: string; path: string }[] {
    return [...this.#cookies.values()]
      .filter((c) => hostname === undefined || c.hostname === hostname)
      .map(({ name, value, path }) => ({ name, value, path }));
  }

  clear(): void {
    this.#cookies.clear();
  }
}

function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}

export type HttpResponse = { status: number; headers: IncomingHttpHeaders; body: string; url: string };

/** One HTTP/1.1 request with node:http (no redirects followed), recording cookies in `jar`. */
export function httpRequest(
  url: string | URL,
  init: { method?: string; headers?: Record<string, string>; body?: string; jar?: CookieJar } = {},
): Promise<HttpResponse> {
  const u = new URL(url);
  const headers: Record<string, string> = {
    accept: 'text/html,application/json;q=0.9,*/*;q=0.8',
    ...init.headers,
  };
  const cookie = init.jar?.header(u);
  if (cookie) headers.cookie = cookie;
  if (init.body !== undefined) headers['content-length'] = String(Buffer.byteLength(init.body));
  return new Promise((resolve, reject) => {
    const req = request(u, { method: init.method ?? 'GET', headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        init.jar?.store(u, res.headers['set-cookie']);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString('utf8'),
          url: u.href,
        });
      });
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

/** Thrown by driveLogin/driveLogout when the IdP answers with something other than a redirect onward. */
export class DriveError extends Error {
  readonly status: number;
  readonly html: string;
  readonly url: string;
  constructor(message: string, response: HttpResponse) {
    super(`${message} (HTTP ${response.status} at ${response.url})`);
    this.name = 'DriveError';
    this.status = response.status;
    this.html = response.body;
    this.url = response.url;
  }
}

export type DriveLoginResult = {
  /** The redirect back to the client (redirect_uri?code=…&state=…&iss=…, or ?error=…), not followed. */
  location: string;
  /** Whether the login form was shown (and submitted); false for a silent re-entry. */
  formShown: boolean;
  jar: CookieJar;
};

type Form = { action: string; fields: Record<string, string> };

function decodeEntities(value: string): string {
  return value
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** The first <form> of a page with its action and hidden fields (enough for oidc-provider's pages). */
function parseForm(html: string, baseUrl: string, id?: string): Form | undefined {
  const forms = [...html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)];
  const match = id ? forms.find((m) => new RegExp(`id="${id.replace(/\./g, '\\.')}"`).test(m[1]!)) : forms[0];
  if (!match) return undefined;
  const action = /action="([^"]*)"/i.exec(match[1]!)?.[1];
  const fields: Record<string, string> = {};
  for (const input of match[2]!.matchAll(/<input\b([^>]*)>/gi)) {
    const attrs = input[1]!;
    if (!/type="hidden"/i.test(attrs)) continue;
    const name = /name="([^"]*)"/i.exec(attrs)?.[1];
    const value = /value="([^"]*)"/i.exec(attrs)?.[1] ?? '';
    if (name) fields[decodeEntities(name)] = decodeEntities(value);
  }
  return { action: new URL(decodeEntities(action ?? ''), baseUrl).href, fields };
}

/**
 * Plays the browser from an authorization URL to the redirect back to the client: follows the
 * IdP's redirects, fills in and posts the login form if one is shown, and returns the first
 * redirect that leaves the IdP (its Location, not followed). Reuse `jar` for the IdP session: a
 * second call with it is silent (`formShown: false`). Wrong credentials throw a DriveError whose
 * `html` is the re-rendered form with the error.
 */
export async function driveLogin(
  idp: { url: string },
  authorizationUrl: string | URL,
  credentials: { username: string; password: string },
  jar: CookieJar = new CookieJar(),
): Promise<DriveLoginResult> {
  const origin = new URL(idp.url).origin;
  let formShown = false;
  let response = await httpRequest(authorizationUrl, { jar });
  for (let hop = 0; hop < 20; hop++) {
    if (response.status >= 300 && response.status < 400 && response.headers.location) {
      const next = new URL(response.headers.location, response.url);
      if (next.origin !== origin) return { location: next.href, formShown, jar };
      response = await httpRequest(next, { jar });
      continue;
    }
    if (response.status === 200 && response.body.includes('id="login-form"')) {
      if (formShown) throw new DriveError('login form shown again after submitting it', response);
      const form = parseForm(response.body, response.url, 'login-form');
      if (!form) throw new DriveError('login form without an action', response);
      formShown = true;
      response = await httpRequest(form.action, {
        method: 'POST',
        jar,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ ...form.fields, ...credentials }).toString(),
      });
      continue;
    }
    if (response.status === 401 && response.body.includes('id="login-form"')) {
      throw new DriveError('login rejected', response);
    }
    throw new DriveError('unexpected IdP response during login', response);
  }
  throw new DriveError('too many redirects', response);
}

export type DriveLogoutResult = {
  /** Where the IdP sends the browser at the end: post_logout_redirect_uri(?state=…) or its own success page. */
  location: string;
  jar: CookieJar;
};

/**
 * Plays the browser through RP-initiated logout: GET the end-session URL (with id_token_hint,
 * post_logout_redirect_uri, state… as the client builds it), submit the confirmation form the
 * page would auto-submit, and return the final redirect (not followed if it leaves the IdP).
 * Back-channel logout tokens are delivered during the POST, before this resolves.
 */
export async function driveLogout(
  idp: { url: string },
  endSessionUrl: string | URL,
  jar: CookieJar = new CookieJar(),
): Promise<DriveLogoutResult> {
  const origin = new URL(idp.url).origin;
  let response = await httpRequest(endSessionUrl, { jar });
  let submitted = false;
  for (let hop = 0; hop < 20; hop++) {
    if (response.status >= 300 && response.status < 400 && response.headers.location) {
      const next = new URL(response.headers.location, response.url);
      if (next.origin !== origin) return { location: next.href, jar };
      response = await httpRequest(next, { jar });
      continue;
    }
    if (response.status === 200 && !submitted) {
      const form =
        parseForm(response.body, response.url, 'op.logoutForm') ?? parseForm(response.body, response.url);
      if (form) {
        submitted = true;
        response = await httpRequest(form.action, {
          method: 'POST',
          jar,
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ ...form.fields, logout: 'yes' }).toString(),
        });
        continue;
      }
    }
    if (response.status === 200 && submitted) return { location: response.url, jar };
    throw new DriveError('unexpected IdP response during logout', response);
  }
  throw new DriveError('too many redirects', response);
}

/** An access token from the client_credentials grant; for API_RESOURCE it is an RS256 JWT. */
export async function clientCredentialsToken(
  idp: { endpoints: { token: string } },
  clientId: string,
  secret: string,
  resource: string | undefined = API_RESOURCE,
  scope?: string,
): Promise<string> {
  const body = new URLSearchParams({ grant_type: 'client_credentials' });
  if (resource) body.set('resource', resource);
  if (scope) body.set('scope', scope);
  const basic = Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString(
    'base64',
  );
  const res = await fetch(idp.endpoints.token, {
    method: 'POST',
    headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
    body,
  });
  const json = (await res.json()) as { access_token?: string; error?: string; error_description?: string };
  if (!res.ok || !json.access_token) {
    throw new Error(
      `client_credentials failed: HTTP ${res.status} ${json.error ?? ''} ${json.error_description ?? ''}`,
    );
  }
  return json.access_token;
}
