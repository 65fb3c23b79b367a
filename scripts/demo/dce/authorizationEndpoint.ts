import type { IncomingMessage, ServerResponse } from 'node:http';
import { type BrokerContext, validRedirectUri } from './brokerContext.ts';
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
import { loginPage, messagePage, sendPage } from './brokerPages.ts';
import type { ClientRequest } from './brokerStore.ts';
import { finishClientLogin } from './finishClientLogin.ts';
import { startBrokerLogin } from './identityBroker.ts';

const PKCE_CHALLENGE = /^[A-Za-z0-9_-]{43,128}$/;

/**
 * `protocol/openid-connect/auth`. With a live SSO session the client gets its code at once.
 * Otherwise a sign-in starts: `kc_idp_hint=<alias>` of a registered provider goes straight to
 * that provider (no page), anything else shows the login page with one button per provider.
 */
export async function authorizationEndpoint(
  ctx: BrokerContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const q = queryOf(req);
  const client = ctx.clients.get(q.get('client_id') ?? '');
  if (!client) return sendPage(res, 400, messagePage('出错了 · Error', 'Client not found.'));
  const redirectUri = validRedirectUri(client, q.get('redirect_uri'));
  if (!redirectUri)
    return sendPage(res, 400, messagePage('出错了 · Error', 'Invalid parameter: redirect_uri'));
  const state = q.get('state') ?? undefined;
  const fail = (error: string, description: string) =>
    redirectTo(
      res,
      withParams(redirectUri, { error, error_description: description, state, iss: ctx.urls.issuer }),
    );

  if (q.get('response_type') !== 'code')
    return fail(
      'unsupported_response_type',
      'Client is not allowed to initiate browser login with given response_type.',
    );
  const challenge = q.get('code_challenge') ?? undefined;
  // The UI is a public client: PKCE (S256) is required, as for Keycloak clients with "PKCE enforced".
  if (challenge === undefined || q.get('code_challenge_method') !== 'S256')
    return fail('invalid_request', 'Missing parameter: code_challenge_method');
  if (!PKCE_CHALLENGE.test(challenge)) return fail('invalid_request', 'Invalid parameter: code_challenge');

  const request: ClientRequest = {
    clientId: client.clientId,
    redirectUri,
    scope: q.get('scope') ?? 'openid',
    state,
    nonce: q.get('nonce') ?? undefined,
    codeChallenge: challenge,
  };
  const cookies = readCookies(req);
  const session = ctx.store.activeSession(cookies[IDENTITY_COOKIE]);
  if (session) return finishClientLogin(ctx, res, request, session);
  if (q.get('prompt') === 'none') return fail('login_required', 'User not logged in');

  const auth = ctx.store.newAuthSession(request);
  addCookies(res, realmCookie(ctx.urls, AUTH_SESSION_COOKIE, auth.id));
  const hinted = ctx.providers.get(q.get('kc_idp_hint') ?? '');
  if (hinted) return startBrokerLogin(ctx, res, auth, hinted);
  const choices = [...ctx.providers.values()].map((p) => ({
    alias: p.alias,
    displayName: p.displayName,
    href: withParams(ctx.urls.brokerLogin(p.alias), { client_id: client.clientId, tab_id: auth.tabId }),
  }));
  sendPage(res, 200, loginPage(choices));
}
