import type { ServerResponse } from 'node:http';
import type { BrokerContext } from './brokerContext.ts';
import { redirectTo, withParams } from './brokerHttp.ts';
import type { ClientRequest, UserSession } from './brokerStore.ts';

/** Back to the client with a one-time code, its state, the session and the issuer (RFC 9207). */
export function finishClientLogin(
  ctx: BrokerContext,
  res: ServerResponse,
  request: ClientRequest,
  session: UserSession,
): void {
  const code = ctx.store.newCode({
    clientId: request.clientId,
    redirectUri: request.redirectUri,
    sessionId: session.id,
    scope: request.scope,
    nonce: request.nonce,
    codeChallenge: request.codeChallenge,
  });
  redirectTo(
    res,
    withParams(request.redirectUri, {
      state: request.state,
      session_state: session.id,
      iss: ctx.urls.issuer,
      code,
    }),
  );
}
