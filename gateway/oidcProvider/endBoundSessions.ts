import type { Logger } from 'pino';
import { LogoutTokenAlreadySent } from './logoutTokenGate.ts';
import type { SessionBindings } from './sessionBindings.ts';
import type { OidcAdapter, OidcProvider } from './types.ts';

/**
 * A Portico session ended: every OP session and grant made from it ends too (codes, access and
 * refresh tokens included), and each client it signed in to that has a `backchannelLogoutUri`
 * gets a logout token. Replicas and repeated events may run this for the same session at once;
 * the logout token gate lets each token out once.
 */
export async function endBoundSessions(
  porticoSession: string,
  deps: {
    bindings: SessionBindings;
    adapter: (model: string) => OidcAdapter;
    provider: () => Promise<OidcProvider | undefined>;
    log: Logger;
  },
): Promise<void> {
  const authorizations = await deps.bindings.release(porticoSession);
  if (authorizations.length === 0) return;
  const sessions = deps.adapter('Session');
  const grants = deps.adapter('Grant');
  const tokens = deps.adapter('AccessToken');
  await Promise.all(
    authorizations.map(async (a) => {
      await tokens.revokeByGrantId(a.grantId);
      await grants.destroy(a.grantId);
      const opSession = await sessions.findByUid(a.uid);
      if (typeof opSession?.jti === 'string') await sessions.destroy(opSession.jti);
    }),
  );
  const provider = await deps.provider();
  if (!provider) return;
  await Promise.all(
    authorizations.map(async (a) => {
      // A client removed from routes.yaml, or one without a back-channel URI, gets nothing.
      const client = await provider.Client.find(a.clientId).catch(() => undefined);
      if (!client?.backchannelLogoutUri) return;
      try {
        await client.backchannelLogout(a.sub, a.sid);
        deps.log.info({ client: a.clientId, sid: a.sid }, 'back-channel logout sent');
      } catch (err) {
        if (err instanceof LogoutTokenAlreadySent) return;
        deps.log.warn({ err, client: a.clientId, sid: a.sid }, 'back-channel logout failed');
      }
    }),
  );
}
