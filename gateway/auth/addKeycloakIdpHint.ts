import type { HttpContext, Stage } from '../context.ts';

// Keycloak's authorization endpoint under the route, for any realm (`auth/realms/ghippo/…`).
// Keycloak ≥ 17 serves it without the `auth/` segment as well.
const AUTHORIZATION = /^(?:auth\/)?realms\/[^/]+\/protocol\/openid-connect\/auth$/;

/**
 * `keycloakIdpHint: portico` on a route: a browser sent to the upstream Keycloak's login (DCE's
 * ghippo) goes straight on to that identity provider — Portico — instead of stopping at
 * Keycloak's login page to be clicked through. A hint already in the request is left as it is.
 */
export function addKeycloakIdpHint(): Stage<HttpContext> {
  return (ctx) => {
    const alias = ctx.route!.keycloakIdpHint;
    if (alias === undefined || ctx.req.method !== 'GET') return;
    if (!AUTHORIZATION.test(ctx.path.slice(ctx.route!.prefix.length))) return;
    if (new URLSearchParams(ctx.query).has('kc_idp_hint')) return;
    const hint = `kc_idp_hint=${encodeURIComponent(alias)}`;
    ctx.query = ctx.query === '' || ctx.query === '?' ? `?${hint}` : `${ctx.query}&${hint}`;
  };
}
