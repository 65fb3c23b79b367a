import type { NextFunction, Request, Response, Router } from 'express';
import type { OwnRequest } from '../../../endpoints/ownEndpoints.ts';
import { expressLibrary } from '../../../endpoints/expressLibrary.ts';
import { GatewayError } from '../../../errors.ts';
import { publicOriginOf } from '../../../routing/publicOrigin.ts';
import type { Services } from '../../../services.ts';
import type { SamlProvider } from '../saml.ts';
import type { SloMessage } from './logoutRequest.ts';

type Req = Request & OwnRequest;
type Deps = Pick<Services, 'config' | 'sessions' | 'providers' | 'events'>;

/**
 * SP metadata at `/_portico/saml/:idp/metadata`, and single logout at `/_portico/saml/:idp/slo`
 * (HTTP-Redirect or HTTP-POST). A LogoutRequest (`SAMLRequest`: the user signed out at the IdP or
 * at another SP) ends that user's Portico sessions on every replica and answers the IdP with a
 * LogoutResponse; anything else is the IdP's LogoutResponse to Portico's own logout, which arrives
 * once the Portico session is already gone and only leads on to the signed-out page.
 */
export function samlMetadataRouter(s: Deps): Router {
  const express = expressLibrary();
  const router = express.Router();
  const { sessions } = s;
  const samlProvider = (id: string) => {
    const p = s.providers.providers(s.config()).get(id);
    return p?.type === 'saml' && typeof (p as SamlProvider).spMetadata === 'function'
      ? (p as SamlProvider)
      : undefined;
  };
  router.get('/saml/:idp/metadata', (req, res, next) => {
    const p = samlProvider(req.params.idp as string);
    if (!p) return next(new GatewayError('PORTICO_ERR_NOT_FOUND'));
    try {
      res
        .set('cache-control', 'public, max-age=300')
        .type('application/samlmetadata+xml')
        .send(p.spMetadata());
    } catch (err) {
      next(err);
    }
  });

  /**
   * The sessions are found by NameID and SessionIndex, never by cookie: the HTTP-POST binding
   * arrives cross-site, without the SameSite=Lax session cookie. A SessionIndex ends only the
   * sessions of that IdP session that belong to the NameID; without one, every session of the user.
   */
  const idpLogout = async (req: Req, res: Response, provider: SamlProvider, message: SloMessage) => {
    const idp = provider.id;
    const request = await provider.logoutRequest(message, publicOriginOf(s.config(), req.headers.host));
    const found = await sessions.find(
      request.sessionIndex ? { idp, sid: request.sessionIndex } : { idp, sub: request.nameID },
    );
    const ended: string[] = [];
    for (const { id, data } of found) {
      if (data.identity.idp !== idp || data.identity.sub !== request.nameID) continue;
      await sessions.end(id, 'saml-logout');
      ended.push(id);
    }
    req.portico?.log?.info(
      { idp, nameID: request.nameID, sessionIndex: request.sessionIndex, revoked: ended.length },
      'SAML single logout',
    );
    if (s.events.has('audit'))
      s.events.emit('audit', {
        type: 'logout',
        actor: request.nameID,
        idp,
        ip: req.portico?.clientIp,
        detail: { singleLogout: true, revoked: ended.length },
      });
    const own = sessions.idOf(req);
    if (own !== undefined && ended.includes(own)) {
      const secure = s.config().publicUrl?.protocol === 'https:' || req.portico?.proto === 'https';
      res.append('set-cookie', sessions.clearCookie(secure));
    }
    res.set('cache-control', 'no-store').redirect(303, (await request.answer()).href);
  };

  const slo = async (req: Req, res: Response, next: NextFunction) => {
    const provider = samlProvider(req.params.idp as string);
    if (!provider) return next(new GatewayError('PORTICO_ERR_NOT_FOUND'));
    const params = (req.method === 'POST' ? req.body : req.query) as Record<string, unknown> | undefined;
    if (params?.SAMLRequest !== undefined) {
      const q = req.originalUrl.indexOf('?');
      const message: SloMessage =
        req.method === 'POST'
          ? {
              binding: 'post',
              SAMLRequest: typeof params.SAMLRequest === 'string' ? params.SAMLRequest : '',
              RelayState: typeof params.RelayState === 'string' ? params.RelayState : undefined,
            }
          : { binding: 'redirect', rawQuery: q < 0 ? '' : req.originalUrl.slice(q + 1) };
      try {
        await idpLogout(req, res, provider, message);
      } catch (err) {
        next(err);
      }
      return;
    }
    const relay = typeof params?.RelayState === 'string' ? params.RelayState : '';
    const target = /^\/_portico\/logged-out(?:\?[^\s#\\]*)?$/.test(relay) ? relay : '/_portico/logged-out';
    res.set('cache-control', 'no-store').redirect(303, target);
  };
  router.get('/saml/:idp/slo', slo);
  router.post('/saml/:idp/slo', express.urlencoded({ extended: false, limit: '256kb' }), slo);
  return router;
}
