import { type CheckContext, type HttpContext, nothingKnownYet, type Stage } from '../context.ts';
import { OWN_PREFIX } from '../endpoints/ownEndpoints.ts';
import { GatewayError, toGatewayError } from '../errors.ts';
import { peerTrusted } from '../proxy/forwardedHeaders.ts';
import type { Built, StageServices } from '../pipeline.ts';
import type { Route } from '../config/types.ts';
import { splitTarget } from '../routing/checkPath.ts';
import { unambiguousRoute } from '../routing/routeRequest.ts';
import { routesForHost } from '../routing/routesForHost.ts';
import { allowedHeaders } from './allowedAnswer.ts';
import { CHECK_PATH, type OriginalRequest, originalRequest } from './originalRequest.ts';
import { refusedAnswer } from './refusedAnswer.ts';

/**
 * `/_portico/auth`: Portico as the authentication server of a proxy in front of it (nginx
 * `auth_request`, ingress-nginx `auth-url`, Traefik ForwardAuth, Envoy ext_authz over HTTP). The
 * proxy describes the request it holds; Portico routes it as it would route that request (the
 * same target checks and unambiguous route) and runs the pipeline's `check` stages on it —
 * authenticate, authorize, prepareUpstreamHeaders, injectIdentity, the very functions a proxied
 * request goes through — then answers 200 with what the upstream must receive, or 401/403/503.
 * The request body is never read.
 *
 * A row of the core's pipeline rather than a feature: it is the proxy path's own decision, made by
 * its own stages (features see neither the stage table nor the assertion signer), and it runs for
 * every request the proxy forwards, so it stays off express like the proxied path (one closure
 * call, and with a cached session and assertion no await at all). Its access-log line and
 * `request` event come from logWhenDone, as for any request, carrying the route and the user.
 */
export function forwardAuth(s: StageServices, built: Built): Stage<HttpContext> {
  const { log, pages, errors } = s;
  /** An answer that could not be written: the proxy sees the connection end, a refusal for it. */
  const fail = (ctx: HttpContext, err: unknown) => {
    log.error({ err, reqId: ctx.requestId }, 'forward-auth answer failed');
    errors.report(err, { requestId: ctx.requestId, req: ctx.req });
    ctx.res.destroy();
  };
  return (ctx) => {
    const path = ctx.path;
    if (path !== CHECK_PATH && !path.startsWith(`${CHECK_PATH}/`)) return;
    ctx.done = true;
    const trust = ctx.config.trustProxy;
    const peer = ctx.req.socket.remoteAddress ?? '';
    const trusted = trust !== undefined && peerTrusted(ctx.req.socket, trust);
    let original: OriginalRequest | undefined;
    let check: CheckContext | undefined;
    const refuse = (err: unknown) => {
      ctx.identity = check?.identity;
      const e = toGatewayError(err);
      if (e.status >= 500)
        log.error({ err: e.cause ?? e, reqId: ctx.requestId, route: ctx.route?.id }, e.code);
      else log.debug({ code: e.code, reqId: ctx.requestId }, 'forward-auth check refused');
      if (e.code === 'PORTICO_ERR_INTERNAL')
        errors.report(e.cause ?? e, { requestId: ctx.requestId, routeId: ctx.route?.id, req: ctx.req });
      const a = refusedAnswer(
        e,
        check ?? { ...ctx, method: original?.method },
        original?.relay ?? 'proxy',
        pages,
      );
      // A length, never chunked: nginx reads no body of an auth subrequest, and keeps the connection
      // to Portico alive only when there is none left to read.
      ctx.res.writeHead(a.status, { ...a.headers, 'content-length': String(Buffer.byteLength(a.body)) });
      ctx.res.end(ctx.req.method === 'HEAD' ? undefined : a.body);
    };
    const allow = () => {
      ctx.identity = check!.identity;
      ctx.res.writeHead(200, allowedHeaders(check!));
      ctx.res.end();
    };
    let pending: void | Promise<void>;
    try {
      original = originalRequest(ctx.req, ctx, trusted);
      if (!trusted)
        log.warn(
          { reqId: ctx.requestId, peer, ignored: original.named },
          'forward-auth check from a peer not in trustProxy: judged as its own request, its proxy headers ignored',
        );
      check = checkContext(ctx, original);
      ctx.route = check.route;
      pending = built.check(check);
    } catch (err) {
      refuse(err);
      return;
    }
    if (pending) pending.then(allow, refuse).catch((err) => fail(ctx, err));
    else allow();
  };
}

/** The context of the request the proxy holds, routed as the proxy path routes a request. */
function checkContext(ctx: HttpContext, original: OriginalRequest): CheckContext {
  const { path, query } = splitTarget(original.target, ctx.config.limits.maxUrlLength);
  // Portico's own endpoints are never a route; an untrusted peer's check names /_portico/auth.
  const routes =
    ctx.config.hosts === undefined ? ctx.config.routes : routesForHost(ctx.config, original.host());
  const match =
    path === '/_portico' || path.startsWith(OWN_PREFIX) ? undefined : unambiguousRoute(routes, path);
  if (!match) throw new GatewayError('PORTICO_ERR_FORBIDDEN', { detail: 'No route serves this path.' });
  const shadow = prefixLocationOf(routes, path, match.route);
  if (shadow)
    throw new GatewayError('PORTICO_ERR_FORBIDDEN', {
      detail: `A proxy location written as the route path ${shadow.prefix} (a plain prefix, as nginx's) also takes this path, which that route does not serve: end the location with a slash.`,
    });
  return {
    kind: 'check',
    method: original.method,
    req: ctx.req,
    config: ctx.config,
    log: ctx.log,
    requestId: ctx.requestId,
    path,
    query,
    route: match.route,
    clientIp: ctx.clientIp,
    proto: ctx.proto,
    ...nothingKnownYet(),
    startedAt: ctx.startedAt,
  };
}

/**
 * A route whose path ends without a slash (`/api`) and is a string prefix of `path` without serving
 * it (`/apix`): Portico's route serves `/api` and `/api/…` only, but the proxy's location written
 * the same way (nginx `location /api`) takes `/apix` too and forwards it to that route's upstream,
 * while the check would judge it by another route (the customer system's `/`, say). Refused rather
 * than judged by the wrong route (found with the real nginx by an attacker session).
 */
function prefixLocationOf(routes: readonly Route[], path: string, matched: Route): Route | undefined {
  for (const r of routes) {
    const p = r.prefix;
    if (r === matched || p.endsWith('/') || !path.startsWith(p)) continue;
    if (path.length > p.length && path.charCodeAt(p.length) !== 47) return r;
  }
  return undefined;
}
