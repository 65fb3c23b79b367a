/**
 * What a request goes through, in order. Read this file to answer "what happens to /dce5/x".
 * A stage either returns (next stage runs), sets `ctx.done` after answering, or throws a
 * GatewayError (answered by the one error responder). Stages are plain functions composed
 * once; a synchronous stage costs one call, only async ones (session lookups) await.
 */
import { authenticate } from './auth/authenticate.ts';
import { authorize } from './auth/authorize.ts';
import { applyBranding } from './branding/applyBranding.ts';
import type { HttpContext, Stage, UpgradeContext } from './context.ts';
import { ownEndpoints } from './endpoints/ownEndpoints.ts';
import { toGatewayError } from './errors.ts';
import { accessLog } from './ops/accessLog.ts';
import { injectIdentity } from './identity/injectIdentity.ts';
import { assignRequestId } from './ops/assignRequestId.ts';
import { reportError } from './ops/sentry/reportError.ts';
import { respondError } from './pages/respondError.ts';
import { checkOrigin } from './proxy/checkOrigin.ts';
import { forwardHttp } from './proxy/forwardHttp.ts';
import { forwardUpgrade } from './proxy/forwardUpgrade.ts';
import { prepareUpstreamHeaders } from './proxy/prepareUpstreamHeaders.ts';
import { rejectUpgrade } from './proxy/rejectUpgrade.ts';
import { parseTarget } from './routing/parseTarget.ts';
import { routeRequest, routeUpgrade } from './routing/routeRequest.ts';

// biome-ignore format: the table is easier to read aligned
export const HTTP_STAGES: readonly Stage<HttpContext>[] = [
  assignRequestId,          // X-Request-Id kept or created
  accessLog,                // one JSON line per request when it finishes; request metrics
  parseTarget,              // path/query split, dot-segment and backslash tricks refused, client IP
  ownEndpoints,             // /_portico/* → login, jwks, nav, health, metrics, admin (express)
  routeRequest,             // longest prefix; /dce5 → 301 /dce5/
  authenticate,             // bearer (API key, IdP JWT) or session cookie; token refresh; Redis down → 503
  authorize,                // auth: required → login redirect / 401; allow rules → 403
  prepareUpstreamHeaders,   // hop-by-hop and client identity headers out; Host, X-Real-IP, X-Forwarded-*
  injectIdentity,           // user/email/groups/name headers, signed assertion, access token
  applyBranding,            // branding: true + a page → theme link, favicon and footer injected on the way back
  forwardHttp,              // stream to the upstream and back; Location/Set-Cookie rewrites; 502/504
];

// biome-ignore format: the table is easier to read aligned
export const WS_STAGES: readonly Stage<UpgradeContext>[] = [
  assignRequestId,
  parseTarget,
  routeUpgrade,             // only routes with websocket: true
  checkOrigin,              // foreign Origin refused before any byte reaches the upstream
  authenticate,             // the session cookie, before any byte reaches the upstream
  authorize,                // 401 / 403 as plain HTTP answers
  prepareUpstreamHeaders,
  injectIdentity,
  forwardUpgrade,           // 101 relayed, sockets spliced, idle timeout per route
];

export function runStages<C extends HttpContext | UpgradeContext>(
  stages: readonly Stage<C>[],
  ctx: C,
  from = 0,
): void | Promise<void> {
  for (let i = from; i < stages.length; i++) {
    if (ctx.done) return;
    const result = stages[i]!(ctx);
    if (result !== undefined) return result.then(() => runStages(stages, ctx, i + 1));
  }
}

export function handleStageError(ctx: HttpContext | UpgradeContext, err: unknown): void {
  const e = toGatewayError(err);
  if (e.status >= 500)
    ctx.log.error({ err: e.cause ?? e, reqId: ctx.requestId, route: ctx.route?.id }, e.code);
  else ctx.log.debug({ code: e.code, reqId: ctx.requestId }, 'request refused');
  if (!ctx.requestId) ctx.requestId = 'unknown';
  if (e.code === 'PORTICO_ERR_INTERNAL')
    reportError(e.cause ?? e, { requestId: ctx.requestId, routeId: ctx.route?.id, req: ctx.req });
  if (ctx.kind === 'http') respondError(ctx.req, ctx.res, e, ctx.requestId);
  else rejectUpgrade(ctx, e);
}
