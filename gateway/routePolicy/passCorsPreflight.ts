import type { HttpContext, Stage } from '../context.ts';
import { requestHasBody } from '../proxy/requestHasBody.ts';
import { namesMethodOverride } from './skipLoginOnPublicPaths.ts';

/**
 * `cors.allowPreflight` (Pomerium cors_allow_preflight): a browser's CORS preflight — OPTIONS with
 * Origin and Access-Control-Request-Method — carries no cookies or credentials by design, so on a
 * route with a login it would get 401 and the real request would never be sent. It goes to the
 * upstream without a login instead; the upstream answers it with its own CORS policy.
 */
export function passCorsPreflight(): Stage<HttpContext> {
  return (ctx) => {
    const route = ctx.route!;
    if (!route.corsPreflight || route.withoutLogin === undefined) return;
    const { method, headers } = ctx.req;
    // A preflight has no body: an OPTIONS that carries one is no preflight, whatever it says.
    if (
      method === 'OPTIONS' &&
      headers.origin !== undefined &&
      headers['access-control-request-method'] !== undefined &&
      !requestHasBody(ctx.req) &&
      // Nor one that names another method in its query (`?_method=DELETE`): let through without a
      // login for its method, it must not become another one.
      !(ctx.query.length > 0 && namesMethodOverride(ctx.query))
    )
      ctx.route = route.withoutLogin;
  };
}
