// Keycloak's identity brokering: the realm signs a user in at a registered identity provider
// (`broker/<alias>/login` → the provider → `broker/<alias>/endpoint`), links the provider's
// subject to a realm user, starts its own SSO session and finishes the client's sign-in.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BrokerContext } from './brokerContext.ts';
import {
  AUTH_SESSION_COOKIE,
  addCookies,
  IDENTITY_COOKIE,
  queryOf,
  readCookies,
  realmCookie,
  redirectTo,
  withParams,
} from './brokerHttp.ts';
import { messagePage, sendPage } from './brokerPages.ts';
import type { AuthSession } from './brokerStore.ts';
import { finishClientLogin } from './finishClientLogin.ts';
import type { IdentityProvider } from './identityProvider.ts';

const PROVIDER_ERROR = 'Unexpected error when authenticating with identity provider';
const TIMED_OUT = 'Your login attempt timed out. Login will start from the beginning.';

/** Sends the browser to the provider with a fresh state and nonce (and PKCE verifier) for this sign-in. */
export async function startBrokerLogin(
  ctx: BrokerContext,
  res: ServerResponse,
  auth: AuthSession,
  provider: IdentityProvider,
): Promise<void> {
  const pending = {
    alias: provider.alias,
    state: secret(),
    nonce: secret(),
    codeVerifier: provider.usesPkce ? secret() : undefined,
  };
  ctx.store.saveAuthSession({ ...auth, broker: pending });
  let location: string;
  try {
    location = await provider.authorizationUrl({
      redirectUri: ctx.urls.brokerEndpoint(provider.alias),
      state: pending.state,
      nonce: pending.nonce,
      codeVerifier: pending.codeVerifier,
    });
  } catch (err) {
    return sendPage(
      res,
      502,
      messagePage('登录失败 · Sign-in failed', PROVIDER_ERROR, (err as Error).message),
    );
  }
  redirectTo(res, location);
}

/** `broker/<alias>/login?tab_id=…`: a button of the login page, for this browser's sign-in only. */
export async function brokerLogin(
  ctx: BrokerContext,
  req: IncomingMessage,
  res: ServerResponse,
  alias: string,
): Promise<void> {
  const auth = ctx.store.authSession(readCookies(req)[AUTH_SESSION_COOKIE]);
  if (!auth || auth.tabId !== queryOf(req).get('tab_id'))
    return sendPage(res, 400, messagePage('登录超时 · Timed out', TIMED_OUT));
  const provider = ctx.providers.get(alias);
  if (!provider) return sendPage(res, 404, messagePage('出错了 · Error', 'Identity Provider not found.'));
  return startBrokerLogin(ctx, res, auth, provider);
}

/**
 * `broker/<alias>/endpoint`: the provider's answer. The pending state is consumed before anything
 * else, so a callback is accepted once; the code is redeemed and the ID token verified (nonce
 * included) before a user or a session exists.
 */
export async function brokerCallback(
  ctx: BrokerContext,
  req: IncomingMessage,
  res: ServerResponse,
  alias: string,
): Promise<void> {
  const q = queryOf(req);
  const auth = ctx.store.authSession(readCookies(req)[AUTH_SESSION_COOKIE]);
  const pending = auth?.broker;
  if (!auth || !pending) return sendPage(res, 400, messagePage('登录超时 · Timed out', TIMED_OUT));
  ctx.store.saveAuthSession({ ...auth, broker: undefined });
  const provider = ctx.providers.get(alias);
  if (!provider || pending.alias !== alias || q.get('state') !== pending.state)
    return sendPage(res, 400, messagePage('登录失败 · Sign-in failed', PROVIDER_ERROR, 'invalid state'));
  const error = q.get('error');
  if (error !== null)
    return sendPage(
      res,
      400,
      messagePage(
        '登录失败 · Sign-in failed',
        PROVIDER_ERROR,
        `${error}: ${q.get('error_description') ?? ''}`,
      ),
    );
  const code = q.get('code');
  if (!code) return sendPage(res, 400, messagePage('登录失败 · Sign-in failed', PROVIDER_ERROR, 'no code'));

  let identity: Awaited<ReturnType<IdentityProvider['redeemCode']>>;
  try {
    // RFC 9207: an `iss` in the answer must be the provider the sign-in was started at.
    const iss = q.get('iss');
    if (iss !== null && iss !== (await provider.metadata()).issuer)
      throw new Error('the answer names another issuer');
    identity = await provider.redeemCode({
      code,
      redirectUri: ctx.urls.brokerEndpoint(alias),
      nonce: pending.nonce,
      codeVerifier: pending.codeVerifier,
    });
  } catch (err) {
    return sendPage(
      res,
      400,
      messagePage('登录失败 · Sign-in failed', PROVIDER_ERROR, (err as Error).message),
    );
  }
  const user = ctx.store.linkUser(alias, identity);
  const session = ctx.store.startSession({
    userId: user.id,
    idpAlias: alias,
    idpSub: identity.sub,
    idpSid: identity.sid,
    idpIdToken: identity.idToken,
  });
  ctx.store.endAuthSession(auth.id);
  addCookies(
    res,
    realmCookie(ctx.urls, IDENTITY_COOKIE, session.id),
    realmCookie(ctx.urls, AUTH_SESSION_COOKIE, null),
  );
  finishClientLogin(ctx, res, auth.client, session);
}

/** `broker/<alias>/endpoint/logout_response`: back from the provider's logout, on to the client. */
export function brokerLogoutResponse(ctx: BrokerContext, req: IncomingMessage, res: ServerResponse) {
  const pending = ctx.store.takePendingLogout(queryOf(req).get('state') ?? undefined);
  if (pending?.postLogoutRedirectUri)
    return redirectTo(res, withParams(pending.postLogoutRedirectUri, { state: pending.state }));
  sendPage(res, 200, messagePage('已退出登录 · Signed out', 'You are logged out.'));
}

function secret(): string {
  return randomBytes(32).toString('base64url'); // 43 characters: also a valid PKCE verifier
}
