import type { HttpContext, UpgradeContext } from '../context.ts';
import { GatewayError } from '../errors.ts';
import { channels } from '../ops/channels.ts';
import { wantsHtml } from '../pages/negotiate.ts';
import { isAllowed } from './isAllowed.ts';

/**
 * The route's policy. Without a login, a browser navigating with GET is sent to sign in and
 * comes back to the same URL; API clients, XHR, non-GET requests and WebSockets get 401 with the
 * login URL. A signed-in user the `allow` rules do not admit gets 403; the request never
 * reaches the upstream.
 */
export function authorize(ctx: HttpContext | UpgradeContext): void {
  const route = ctx.route!;
  if (route.auth !== 'required') return;
  const returnTo = ctx.path + ctx.query;
  const login = `/_portico/login?rd=${encodeURIComponent(returnTo)}`;
  if (!ctx.identity) {
    const method = ctx.req.method;
    if (ctx.kind === 'http' && (method === 'GET' || method === 'HEAD') && wantsHtml(ctx.req)) {
      ctx.res.writeHead(302, { location: login, 'cache-control': 'no-store', 'content-length': '0' });
      ctx.res.end();
      ctx.done = true;
      return;
    }
    throw new GatewayError('PORTICO_ERR_UNAUTHENTICATED', {
      extra: { login },
      headers: { 'www-authenticate': 'Bearer realm="portico"' },
    });
  }
  if (!isAllowed(route.allow, ctx.identity)) {
    if (channels.audit.hasSubscribers) {
      channels.audit.publish({
        type: 'access.denied',
        actor: ctx.identity.username,
        idp: ctx.identity.idp,
        route: route.id,
        ip: ctx.clientIp,
      });
    }
    throw new GatewayError('PORTICO_ERR_FORBIDDEN');
  }
}
