import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BrokerContext } from './brokerContext.ts';
import { oauthError, readForm, sendOAuthJson } from './brokerHttp.ts';
import type { UserSession } from './brokerStore.ts';

/**
 * `protocol/openid-connect/token` for the realm's public client: the authorization code grant
 * (single-use code, same redirect_uri, PKCE S256) and the refresh token grant (rotating). Both
 * need the SSO session to be alive: after a logout, or a back-channel logout from the identity
 * provider, a refresh answers `invalid_grant` "Session not active", which is how the UI learns.
 */
export async function tokenEndpoint(
  ctx: BrokerContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const form = await readForm(req);
  const clientId = form.get('client_id') ?? '';
  if (!ctx.clients.has(clientId))
    return oauthError(res, 401, 'invalid_client', 'Invalid client or Invalid client credentials');

  let sessionId: string;
  let scope: string;
  let nonce: string | undefined;
  switch (form.get('grant_type')) {
    case 'authorization_code': {
      const code = ctx.store.takeCode(form.get('code') ?? undefined);
      if (!code || code.clientId !== clientId) return oauthError(res, 400, 'invalid_grant', 'Code not valid');
      if (form.get('redirect_uri') !== code.redirectUri)
        return oauthError(res, 400, 'invalid_grant', 'Incorrect redirect_uri');
      if (code.codeChallenge !== undefined && !pkceMatches(code.codeChallenge, form.get('code_verifier')))
        return oauthError(res, 400, 'invalid_grant', 'PKCE verification failed: Invalid code verifier');
      ({ sessionId, scope, nonce } = code);
      break;
    }
    case 'refresh_token': {
      const grant = ctx.store.takeRefreshToken(form.get('refresh_token') ?? undefined);
      if (!grant || grant.clientId !== clientId)
        return oauthError(res, 400, 'invalid_grant', 'Invalid refresh token');
      ({ sessionId, scope } = grant);
      break;
    }
    default:
      return oauthError(res, 400, 'unsupported_grant_type', 'Unsupported grant_type');
  }
  const session: UserSession | undefined = ctx.store.activeSession(sessionId);
  const user = session && ctx.store.user(session.userId);
  if (!session || !user) return oauthError(res, 400, 'invalid_grant', 'Session not active');
  sendOAuthJson(res, 200, await ctx.tokens.issue({ user, session, clientId, scope, nonce }));
}

function pkceMatches(challenge: string, verifier: string | null): boolean {
  if (!verifier || !/^[A-Za-z0-9\-._~]{43,128}$/.test(verifier)) return false;
  const a = Buffer.from(createHash('sha256').update(verifier).digest('base64url'));
  const b = Buffer.from(challenge);
  return a.length === b.length && timingSafeEqual(a, b);
}
