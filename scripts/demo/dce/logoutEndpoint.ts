import type { IncomingMessage, ServerResponse } from 'node:http';
import { escapeHtml } from '../common.ts';
import { type BrokerContext, validRedirectUri } from './brokerContext.ts';
import {
  addCookies,
  IDENTITY_COOKIE,
  paramsOf,
  readCookies,
  realmCookie,
  redirectTo,
  withParams,
} from './brokerHttp.ts';
import { messagePage, sendPage } from './brokerPages.ts';

/**
 * `protocol/openid-connect/logout` (RP-initiated logout). With `id_token_hint` the session it names
 * ends at once; without one the user confirms first (a cross-site link cannot sign anyone out).
 * Like Keycloak, the realm then logs out at the identity provider that signed the user in, when
 * it has an end-session endpoint, and comes back through `broker/<alias>/endpoint/logout_response`
 * to the client's `post_logout_redirect_uri`.
 */
export async function logoutEndpoint(
  ctx: BrokerContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const p = await paramsOf(req);
  let hint: Awaited<ReturnType<typeof ctx.tokens.verifyIdTokenHint>> | undefined;
  const rawHint = p.get('id_token_hint');
  if (rawHint) {
    try {
      hint = await ctx.tokens.verifyIdTokenHint(rawHint);
    } catch {
      return sendPage(res, 400, messagePage('出错了 · Error', 'Invalid parameter: id_token_hint'));
    }
  }
  const clientId = p.get('client_id') ?? (typeof hint?.azp === 'string' ? hint.azp : undefined);
  const client = clientId === undefined ? undefined : ctx.clients.get(clientId);
  const asked = p.get('post_logout_redirect_uri');
  const postLogout = client ? validRedirectUri(client, asked) : undefined;
  if (asked && !postLogout) return sendPage(res, 400, messagePage('出错了 · Error', 'Invalid redirect uri'));
  const state = p.get('state') ?? undefined;

  const cookieSession = ctx.store.activeSession(readCookies(req)[IDENTITY_COOKIE]);
  if (!hint && cookieSession && !(req.method === 'POST' && p.get('confirm') === 'yes')) {
    const hidden = Object.entries({ client_id: clientId, post_logout_redirect_uri: postLogout, state })
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => `<input type="hidden" name="${k}" value="${escapeHtml(v!)}">`)
      .join('');
    const form = `      <form id="kc-logout-form" method="post" action="${escapeHtml(ctx.urls.logout)}">${hidden}<input type="hidden" name="confirm" value="yes"><button id="kc-logout" class="kc-social-item" type="submit">退出 · Logout</button></form>`;
    return sendPage(
      res,
      200,
      messagePage('退出登录 · Logging out', 'Do you want to log out?', undefined, form),
    );
  }

  const session = hint ? ctx.store.activeSession(String(hint.sid)) : cookieSession;
  addCookies(res, realmCookie(ctx.urls, IDENTITY_COOKIE, null));
  if (session) {
    ctx.store.endSession(session.id);
    const provider = ctx.providers.get(session.idpAlias);
    const pending = ctx.store.newPendingLogout({ postLogoutRedirectUri: postLogout, state });
    const upstream = await provider
      ?.endSessionUrl({
        idTokenHint: session.idpIdToken,
        postLogoutRedirectUri: ctx.urls.brokerLogoutResponse(session.idpAlias),
        state: pending,
      })
      .catch(() => undefined);
    if (upstream) return redirectTo(res, upstream);
    ctx.store.takePendingLogout(pending);
  }
  if (postLogout) return redirectTo(res, withParams(postLogout, { state }));
  sendPage(res, 200, messagePage('已退出登录 · Signed out', 'You are logged out.'));
}
