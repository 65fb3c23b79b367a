import type { IncomingMessage, ServerResponse } from 'node:http';
import { decodeJwt } from 'jose';
import type { BrokerContext } from './brokerContext.ts';
import { oauthError, readForm } from './brokerHttp.ts';

/**
 * `protocol/openid-connect/logout/backchannel-logout`: an identity provider says one of its
 * sessions ended. As in Keycloak, the provider is found by the token's issuer, the token is
 * verified against that provider's JWKS, and every realm session it started (by `sid`, else by
 * `sub`) ends; refresh tokens of those sessions stop working at once.
 */
export async function backchannelLogout(
  ctx: BrokerContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const token = (await readForm(req)).get('logout_token');
  if (!token) return oauthError(res, 400, 'invalid_request', 'No logout token');
  let issuer: unknown;
  try {
    issuer = decodeJwt(token).iss;
  } catch {
    return oauthError(res, 400, 'invalid_request', 'Logout token is not a JWT');
  }
  const provider = [...ctx.providers.values()].find((p) => p.issuer === issuer);
  if (!provider)
    return oauthError(res, 400, 'invalid_request', 'No identity provider for the logout token issuer');
  if (provider.refusesLogoutTokens)
    return oauthError(res, 400, 'invalid_request', 'Back-channel logout is not supported for this provider');
  let claims: Awaited<ReturnType<typeof provider.verifyLogoutToken>>;
  try {
    claims = await provider.verifyLogoutToken(token);
  } catch (err) {
    return oauthError(res, 400, 'invalid_request', `Invalid logout token: ${(err as Error).message}`);
  }
  if (claims.jti !== undefined && !ctx.store.firstSightOfLogoutToken(`${provider.alias}\n${claims.jti}`))
    return oauthError(res, 400, 'invalid_request', 'Logout token was used before');
  ctx.store.endSessionsFrom(provider.alias, claims);
  res.writeHead(200, { 'cache-control': 'no-store', 'content-length': '0' });
  res.end();
}
