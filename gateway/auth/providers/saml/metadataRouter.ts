import type { NextFunction, Request, Response, Router } from 'express';
import { expressLibrary } from '../../../endpoints/expressLibrary.ts';
import { GatewayError } from '../../../errors.ts';
import type { SamlProvider } from '../saml.ts';
import type { LoginProvider } from '../types.ts';

/**
 * SP metadata at `/_portico/saml/:idp/metadata`, and the single logout return point
 * `/_portico/saml/:idp/slo` (the IdP's LogoutResponse lands here once the Portico session is
 * already gone: it only leads on to the signed-out page).
 */
export function samlMetadataRouter(providers: () => Map<string, LoginProvider>): Router {
  const express = expressLibrary();
  const router = express.Router();
  const samlProvider = (id: string) => {
    const p = providers().get(id);
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
  const slo = (req: Request, res: Response, next: NextFunction) => {
    if (!samlProvider(req.params.idp as string)) return next(new GatewayError('PORTICO_ERR_NOT_FOUND'));
    const params = (req.method === 'POST' ? req.body : req.query) as Record<string, unknown> | undefined;
    const relay = typeof params?.RelayState === 'string' ? params.RelayState : '';
    const target = /^\/_portico\/logged-out(?:\?[^\s#\\]*)?$/.test(relay) ? relay : '/_portico/logged-out';
    res.set('cache-control', 'no-store').redirect(303, target);
  };
  router.get('/saml/:idp/slo', slo);
  router.post('/saml/:idp/slo', express.urlencoded({ extended: false, limit: '256kb' }), slo);
  return router;
}
