import type { HttpContext, UpgradeContext } from '../context.ts';
import { GatewayError } from '../errors.ts';
import { apiKeyMatches } from '../admin/apiKeys.ts';
import type { Auth } from './auth.ts';

type Ctx = HttpContext | UpgradeContext;

/**
 * Who is calling: a bearer token (Portico API key or an IdP's JWT) for machine clients, else
 * the session cookie. Routes with `auth: none` that inject nothing skip this entirely. When the
 * session store is down, routes that require a login fail closed (503); optional routes go on
 * as anonymous.
 */
export function authenticate(ctx: Ctx): void | Promise<void> {
  const route = ctx.route!;
  if (route.auth === 'none') return;
  const authorization = ctx.req.headers.authorization;
  if (authorization !== undefined && /^bearer /i.test(authorization))
    return bearer(ctx, authorization.slice(7).trim());
  return fromSession(ctx);
}

function fromSession(ctx: Ctx): void | Promise<void> {
  const auth = ctx.runtime.auth as Auth;
  let loaded: ReturnType<Auth['sessions']['load']>;
  try {
    loaded = auth.sessions.load(ctx.req);
  } catch (err) {
    return storeFailed(ctx, err);
  }
  if (loaded instanceof Promise)
    return loaded.then(
      (l) => useSession(ctx, auth, l),
      (err) => storeFailed(ctx, err),
    );
  return useSession(ctx, auth, loaded);
}

function useSession(
  ctx: Ctx,
  auth: Auth,
  loaded: Awaited<ReturnType<Auth['sessions']['load']>>,
): void | Promise<void> {
  if (!loaded?.data.identity) return;
  ctx.session = loaded.data;
  ctx.sessionId = loaded.id;
  ctx.identity = loaded.data.identity;
  const tokens = loaded.data.tokens;
  if (tokens?.refreshToken && tokens.expiresAt && tokens.expiresAt - Date.now() < 30_000)
    return refresh(ctx, auth);
}

function storeFailed(ctx: Ctx, err: unknown): void {
  if (ctx.route!.auth === 'required') throw err;
  ctx.log.warn(
    { err, reqId: ctx.requestId },
    'session store unavailable; serving the optional route anonymously',
  );
}

/** One refresh per session at a time across replicas; others go on with the still-valid token. */
async function refresh(ctx: Ctx, auth: Auth): Promise<void> {
  const id = ctx.sessionId!;
  const data = ctx.session!;
  const provider = auth.providers(ctx.config).get(data.identity!.idp);
  if (!provider?.refresh) return;
  await auth.sessions.withLock(id, async () => {
    try {
      const tokens = await provider.refresh!(data.tokens!);
      const next = { ...data, tokens };
      await auth.sessions.save(id, next);
      ctx.session = next;
    } catch (err) {
      const code = (err as { error?: string }).error;
      if (code === 'invalid_grant') {
        // The IdP ended this session: so do we.
        await auth.sessions.destroy(id);
        ctx.session = undefined;
        ctx.sessionId = undefined;
        ctx.identity = undefined;
      } else {
        ctx.log.warn({ err, idp: data.identity!.idp }, 'token refresh failed; keeping the session');
      }
    }
  });
}

async function bearer(ctx: Ctx, token: string): Promise<void> {
  if (token.startsWith('ptk_')) {
    const key = ctx.config.apiKeys.find(
      (k) => token.startsWith(`ptk_${k.id}_`) && apiKeyMatches(token, k.hash),
    );
    if (!key)
      throw new GatewayError('PORTICO_ERR_UNAUTHENTICATED', {
        detail: 'The API key is not valid.',
        headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
      });
    ctx.identity = {
      idp: 'apikey',
      sub: key.id,
      username: key.username ?? key.id,
      email: key.email,
      name: key.name,
      groups: [...(key.groups ?? [])],
    };
    ctx.bearerIsApiKey = true;
    return;
  }
  const auth = ctx.runtime.auth as Auth;
  for (const provider of auth.providers(ctx.config).values()) {
    if (!provider.verifyBearer) continue;
    const identity = await provider.verifyBearer(token).catch(() => undefined);
    if (identity) {
      ctx.identity = identity;
      return;
    }
  }
  throw new GatewayError('PORTICO_ERR_UNAUTHENTICATED', {
    detail: 'The bearer token is not valid.',
    headers: { 'www-authenticate': 'Bearer error="invalid_token"' },
  });
}
