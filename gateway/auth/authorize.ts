import type { IncomingMessage } from 'node:http';
import type { AnyContext, Stage } from '../context.ts';
import { GatewayError } from '../errors.ts';
import { wantsHtml } from '../pages/negotiate.ts';
import type { Services } from '../services.ts';
import { isAllowed } from './isAllowed.ts';

/** Where a request without a login signs in, coming back to the same path and query. */
export function loginUrl(target: string): string {
  return `/_portico/login?rd=${encodeURIComponent(target)}`;
}

/** A browser opening a page (GET or HEAD, HTML wanted): it is sent to the login page, not given a 401. */
export function isNavigation(method: string | undefined, req: Pick<IncomingMessage, 'headers'>): boolean {
  return (method === 'GET' || method === 'HEAD') && wantsHtml(req);
}

/**
 * The route's policy. Without a login, a browser navigating with GET is sent to sign in and
 * comes back to the same URL; API clients, XHR, non-GET requests and WebSockets get 401 with the
 * login URL (so does a forward-auth check: the proxy in front redirects, see forwardAuth/). A
 * signed-in user the `allow` rules do not admit gets 403; the request never reaches the upstream.
 * (`allow` implies `auth: required`: see config/compile.ts.)
 */
export function authorize(s: Pick<Services, 'events'>): Stage<AnyContext> {
  return (ctx) => {
    const route = ctx.route!;
    if (route.auth !== 'required') return;
    if (!ctx.identity) {
      const answer = withoutLogin(ctx.kind, ctx.req, ctx.path + ctx.query);
      if (answer.status === 302 && ctx.kind === 'http') {
        ctx.res.writeHead(302, {
          location: answer.login,
          'cache-control': 'no-store',
          'content-length': '0',
        });
        ctx.res.end();
        ctx.done = true;
        return;
      }
      throw new GatewayError('PORTICO_ERR_UNAUTHENTICATED', {
        extra: { login: answer.login },
        headers: { 'www-authenticate': 'Bearer realm="portico"' },
      });
    }
    if (!isAllowed(route.allow, ctx.identity, ctx.config)) {
      if (s.events.has('audit'))
        s.events.emit('audit', {
          type: 'access.denied',
          actor: ctx.identity.username,
          idp: ctx.identity.idp,
          route: route.id,
          ip: ctx.clientIp,
        });
      throw new GatewayError('PORTICO_ERR_FORBIDDEN');
    }
  };
}

/**
 * The answer to a request that needs a login and has none: a browser navigating with GET is sent
 * to sign in (302) and comes back to `target`; API clients, XHR, non-GET requests and WebSockets
 * get 401 with the same login URL.
 */
export function withoutLogin(
  kind: AnyContext['kind'],
  req: Pick<IncomingMessage, 'method' | 'headers'>,
  target: string,
): { status: 302 | 401; login: string } {
  const navigates = kind === 'http' && isNavigation(req.method, req);
  return { status: navigates ? 302 : 401, login: loginUrl(target) };
}
