import type { IncomingMessage } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import { type AllowContext, isAllowed } from '../auth/isAllowed.ts';
import type { RawOidcClient } from '../config/types.ts';
import type { Identity } from '../context.ts';
import { GatewayError } from '../errors.ts';
import type { EventBus } from '../events.ts';
import type { SessionBindings } from './sessionBindings.ts';
import { subjectOf } from './subjectOf.ts';
import type { OidcAdapter, OidcInteraction, OidcProvider } from './types.ts';

type PorticoSession = { id: string; identity: Identity; createdAt: number };

/**
 * GET /_portico/oidc/interaction/:uid — where oidc-provider sends a browser it cannot answer by
 * itself. There is no page here: a browser without a Portico session goes through Portico's login
 * and comes back to this URL; a signed-in one is either refused (`access_denied` back to the
 * client, when the client's `allow` rules say no) or signed in to the client with a grant for what
 * it asked. An OP session left from another Portico session or user is ended, never reused.
 */
export function interactionHandler(deps: {
  provider: () => Promise<OidcProvider>;
  sessionOf: (req: IncomingMessage) => Promise<PorticoSession | undefined>;
  client: (id: string) => RawOidcClient | undefined;
  bindings: SessionBindings;
  adapter: (model: string) => OidcAdapter;
  events: EventBus;
  allowContext: () => AllowContext;
}) {
  return async (req: Request, res: Response, next: NextFunction) => {
    try {
      const provider = await deps.provider();
      let details: OidcInteraction;
      try {
        details = await provider.interactionDetails(req, res);
      } catch (cause) {
        throw new GatewayError('PORTICO_ERR_LOGIN', {
          cause,
          detail: 'The sign-in request expired. Go back to the application and sign in again.',
        });
      }
      if (details.uid !== req.params.uid) throw new GatewayError('PORTICO_ERR_LOGIN');
      res.set('cache-control', 'no-store');
      const session = await deps.sessionOf(req);
      if (!session) {
        res.redirect(
          302,
          `/_portico/login?rd=${encodeURIComponent(`/_portico/oidc/interaction/${details.uid}`)}`,
        );
        return;
      }
      const clientId = details.params.client_id ?? '';
      const client = deps.client(clientId);
      if (!client || !isAllowed(client.allow, session.identity, deps.allowContext())) {
        if (deps.events.has('audit'))
          deps.events.emit('audit', {
            type: 'access.denied',
            actor: session.identity.username,
            idp: session.identity.idp,
            ip: (req as { portico?: { clientIp?: string } }).portico?.clientIp,
            detail: { oidcClient: clientId },
          });
        await provider.interactionFinished(
          req,
          res,
          { error: 'access_denied', error_description: 'This account may not sign in to this application.' },
          { mergeWithLastSubmission: false },
        );
        return;
      }
      const sub = subjectOf(session.identity);
      await replaceStaleOpSession(details, session.id, sub, deps);
      const grantId = await grantFor(provider, details, sub, clientId);
      await provider.interactionFinished(
        req,
        res,
        {
          login: { accountId: sub, ts: Math.floor(session.createdAt / 1000) },
          consent: { grantId },
        },
        { mergeWithLastSubmission: false },
      );
    } catch (err) {
      next(err);
    }
  };
}

/** An OP session of another user or another Portico session is destroyed and detached from the interaction. */
async function replaceStaleOpSession(
  details: OidcInteraction,
  porticoSession: string,
  sub: string,
  deps: { bindings: SessionBindings; adapter: (model: string) => OidcAdapter },
): Promise<void> {
  const op = details.session;
  if (!op) return;
  const boundTo = op.uid ? await deps.bindings.porticoSessionOf(op.uid) : undefined;
  if (op.accountId === sub && boundTo === porticoSession) return;
  if (op.cookie) await deps.adapter('Session').destroy(op.cookie);
  details.session = undefined;
  details.grantId = undefined;
  await details.save(Math.max(1, details.exp - Math.floor(Date.now() / 1000)));
}

/** A grant for everything the request asks (there is no consent screen: declared clients are trusted). */
async function grantFor(
  provider: OidcProvider,
  details: OidcInteraction,
  sub: string,
  clientId: string,
): Promise<string> {
  const existing = details.grantId ? await provider.Grant.find(details.grantId) : undefined;
  const grant =
    existing && existing.accountId === sub && existing.clientId === clientId
      ? existing
      : new provider.Grant({ accountId: sub, clientId });
  if (details.params.scope) grant.addOIDCScope(details.params.scope);
  const missing = details.prompt.details;
  if (missing.missingOIDCScope?.length) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims?.length) grant.addOIDCClaims(missing.missingOIDCClaims);
  return grant.save();
}
