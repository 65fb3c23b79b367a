import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BrokerContext } from './brokerContext.ts';
import { bearerOf, sendOAuthJson } from './brokerHttp.ts';

/** `protocol/openid-connect/userinfo`: the user of a realm access token whose session is alive. */
export async function userinfoEndpoint(
  ctx: BrokerContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const refuse = (description: string) =>
    sendOAuthJson(
      res,
      401,
      { error: 'invalid_token', error_description: description },
      {
        'www-authenticate': `Bearer realm="${ctx.urls.realm}", error="invalid_token", error_description="${description}"`,
      },
    );
  const token = bearerOf(req);
  if (token === undefined) return refuse('Token not provided');
  let claims: Awaited<ReturnType<typeof ctx.tokens.verifyAccessToken>>;
  try {
    claims = await ctx.tokens.verifyAccessToken(token);
  } catch {
    return refuse('Token verification failed');
  }
  const session = ctx.store.activeSession(claims.sid);
  const user = session && ctx.store.user(session.userId);
  if (!session || !user || user.id !== claims.sub)
    return refuse("User session not found or doesn't have client attached on it");
  sendOAuthJson(res, 200, {
    sub: user.id,
    preferred_username: user.username,
    ...(user.email !== undefined ? { email: user.email, email_verified: true } : {}),
    ...(user.name !== undefined ? { name: user.name } : {}),
  });
}
