import type { ApiKey, Route } from '../config/types.ts';
import type { AnyContext, Identity, Stage } from '../context.ts';
import { GatewayError } from '../errors.ts';
import { qualifyIdentity } from '../identity/qualifyIdentity.ts';
import type { Services } from '../services.ts';
import { apiKeyMatches } from './apiKeys.ts';
import type { LoadedSession } from './session/sessions.ts';

type Deps = Pick<Services, 'sessions' | 'providers'>;

const BEARER = /^bearer[ \t]+(\S+)\s*$/i;
const invalidToken = (detail: string) =>
  new GatewayError('PORTICO_ERR_UNAUTHENTICATED', {
    detail,
    headers: { 'www-authenticate': 'Bearer realm="portico", error="invalid_token"' },
  });

/**
 * Who is calling. `Authorization` belongs to the upstream (SPEC §5): with `bearer: passthrough`
 * (the default) Portico authenticates by its session cookie and forwards any bearer token
 * untouched, so DCE's own JWTs and access keys reach DCE. A Portico API key (`ptk_…`) is
 * recognised on every route and never forwarded. With `bearer: verify` Portico itself accepts an
 * access token from its identity providers, checked as a browser sign-in of that provider is,
 * and refuses any other bearer token. When the session store is down, routes that require a login
 * fail closed (503); optional routes go on as anonymous.
 */
export function authenticate(s: Deps): Stage<AnyContext> {
  return (ctx) => {
    const how = howToAuthenticate(ctx.route!, ctx.req.headers.authorization);
    switch (how.by) {
      case 'apiKey':
        ctx.credential = 'apiKey';
        if (how.checked) apiKey(ctx, how.token);
        return;
      case 'nobody':
        // A terminal opened on a public route (DCE 5's /dce5/apis/ with websocket: true) still
        // ends with the browser's session (sign-out, revoke, maximum age): the session is looked
        // up only to know which one it belongs to; no identity is taken from it or passed on.
        if (ctx.kind === 'ws') return tieToSession(s, ctx);
        return;
      case 'bearer':
        return verifyBearer(s, ctx, how.token);
      case 'session':
        return fromSession(s, ctx);
    }
  };
}

/** How a request is authenticated, decided from its route and its Authorization header alone. */
export type AuthenticationPath =
  /** A Portico API key: stripped on every route, checked only where a login matters. */
  | { by: 'apiKey'; token: string; checked: boolean }
  /** `auth: none`: nobody is looked up, any other Authorization header passes through. */
  | { by: 'nobody' }
  /** `bearer: verify` and a bearer token: Portico checks it against its identity providers. */
  | { by: 'bearer'; token: string }
  /** The session cookie; a bearer token (passthrough) belongs to the upstream. */
  | { by: 'session' };

export function howToAuthenticate(
  route: Pick<Route, 'auth' | 'bearer'>,
  authorization: string | undefined,
): AuthenticationPath {
  const token = authorization === undefined ? undefined : BEARER.exec(authorization)?.[1];
  if (token?.startsWith('ptk_')) return { by: 'apiKey', token, checked: route.auth !== 'none' };
  if (route.auth === 'none') return { by: 'nobody' };
  if (token !== undefined && route.bearer === 'verify') return { by: 'bearer', token };
  return { by: 'session' };
}

function apiKey(ctx: AnyContext, token: string): void {
  const key = ctx.config.apiKeys.find(
    (k) => token.startsWith(`ptk_${k.id}_`) && apiKeyMatches(token, k.hash),
  );
  if (!key) throw invalidToken('The API key is not valid.');
  ctx.identity = apiKeyIdentity(key);
}

/** Who a Portico API key stands for: its id, or the username, email, name and groups it declares. */
export function apiKeyIdentity(key: ApiKey): Identity {
  return {
    idp: 'apikey',
    sub: key.id,
    username: key.username ?? key.id,
    email: key.email,
    name: key.name,
    groups: [...(key.groups ?? [])],
  };
}

async function verifyBearer(s: Deps, ctx: AnyContext, token: string): Promise<void> {
  const all = s.providers.providers(ctx.config);
  const named = ctx.route!.bearerProviders;
  const verifiers = named
    ? named.flatMap((id) => {
        const p = all.get(id);
        return p?.verifyBearer ? [p] : [];
      })
    : tokenVerifiers(
        [...all.values()].filter((p) => p.verifyBearer),
        isJwt(token),
        ctx.config.primaryIdp,
      );
  for (const provider of verifiers) {
    const identity = await provider.verifyBearer!(token).catch(() => undefined);
    if (identity) {
      ctx.identity = {
        ...qualifyIdentity(identity, ctx.config.primaryIdp, ctx.config.identityProviderIds),
        bearerJwt: isJwt(token),
      };
      ctx.credential = 'bearer';
      return;
    }
  }
  throw invalidToken('The bearer token is not valid.');
}

/** The provider types that check bearer tokens (oidc.ts's verifyBearer, and Google and GitLab built on it). */
export const TOKEN_CHECKING_TYPES: ReadonlySet<string> = new Set(['oidc', 'google', 'gitlab']);

/**
 * Which providers may see a bearer token. A JWT is checked where it is, against each provider's
 * own keys and issuer: it leaves Portico only for the userinfo of the provider that signed it. An
 * opaque token can only be asked about, and asking hands it over: it goes to one provider — the
 * primary one, or the only one that checks tokens — never round every provider, where a partner
 * IdP's operator would collect live tokens of the customer's IdP to replay. A route's
 * `bearerProviders` replaces this choice with its own list.
 */
export function tokenVerifiers<P extends { id: string }>(
  verifiers: readonly P[],
  jwt: boolean,
  primaryIdp: string | undefined,
): readonly P[] {
  if (jwt) return verifiers;
  const primary = verifiers.find((p) => p.id === primaryIdp);
  if (primary) return [primary];
  return verifiers.length === 1 ? verifiers : [];
}

function isJwt(token: string): boolean {
  return token.split('.').length === 3;
}

function fromSession(s: Deps, ctx: AnyContext): void | Promise<void> {
  let loaded: ReturnType<Deps['sessions']['load']>;
  try {
    loaded = s.sessions.load(ctx.req);
  } catch (err) {
    return storeFailed(ctx, err);
  }
  if (loaded instanceof Promise)
    return loaded.then(
      (l) => useSession(s, ctx, l),
      (err) => storeFailed(ctx, err),
    );
  return useSession(s, ctx, loaded);
}

function tieToSession(s: Deps, ctx: AnyContext): void | Promise<void> {
  const tie = (loaded: LoadedSession | undefined) => {
    if (!loaded) return;
    ctx.session = loaded.data;
    ctx.sessionId = loaded.id;
  };
  // A public route works with the session store down: the terminal is then tied to nothing.
  const ignore = () => {};
  try {
    const loaded = s.sessions.load(ctx.req);
    if (loaded instanceof Promise) return loaded.then(tie, ignore);
    tie(loaded);
  } catch {
    ignore();
  }
}

function useSession(s: Deps, ctx: AnyContext, loaded: LoadedSession | undefined): void | Promise<void> {
  if (!loaded) return;
  ctx.session = loaded.data;
  ctx.sessionId = loaded.id;
  ctx.identity = loaded.data.identity;
  ctx.credential = 'session';
  const tokens = loaded.data.tokens;
  if (tokens?.refreshToken && tokens.expiresAt && tokens.expiresAt - Date.now() < 30_000)
    return refresh(s, ctx);
}

function storeFailed(ctx: AnyContext, err: unknown): void {
  if (ctx.route!.auth === 'required') throw err;
  ctx.log.warn(
    { err, reqId: ctx.requestId },
    'session store unavailable; serving the optional route anonymously',
  );
}

/** One refresh per session at a time across replicas; the others go on with the still-valid token. */
async function refresh(s: Deps, ctx: AnyContext): Promise<void> {
  const id = ctx.sessionId!;
  const data = ctx.session!;
  const provider = s.providers.providers(ctx.config).get(data.identity.idp);
  if (!provider?.refresh) return;
  await s.sessions.withLock(id, async () => {
    // Another replica may have refreshed already: its tokens are the ones the IdP knows now.
    const current = (await s.sessions.fresh(id)) ?? data;
    if (current.tokens?.expiresAt && current.tokens.expiresAt - Date.now() >= 30_000) {
      ctx.session = current;
      return;
    }
    try {
      const tokens = await provider.refresh!(current.tokens!);
      ctx.session = (await s.sessions.updateTokens(id, current, tokens)) ?? current;
    } catch (err) {
      if ((err as { error?: string }).error === 'invalid_grant') {
        // The IdP ended this session: so do we.
        await s.sessions.end(id, 'refresh-refused');
        ctx.session = undefined;
        ctx.sessionId = undefined;
        ctx.identity = undefined;
        ctx.credential = undefined;
      } else {
        ctx.log.warn({ err, idp: data.identity.idp }, 'token refresh failed; keeping the session');
      }
    }
  });
}
