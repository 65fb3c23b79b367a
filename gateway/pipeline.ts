/**
 * What a request goes through, in order. Read this table to answer "what happens to /dce5/x".
 *
 * One table, two columns: an HTTP request runs the `http` stage of every row, a WebSocket
 * upgrade the `ws` stage; a row with `both` runs the same stage for each, so an upgrade cannot
 * skip what a request gets (own endpoints, access log, metrics, authentication). A stage returns
 * (the next one runs), sets `ctx.done` after answering, or throws a GatewayError (answered by the
 * one error serializer, pages/errorResponse.ts). Stages are built once per gateway from the
 * services they use (`(services) => stage`); a synchronous stage costs one call per request.
 * `slot` rows are where features add stages (the core imports no feature). Rows marked `check`
 * are also what a forward-auth check runs (`/_portico/auth`, forwardAuth/): an external proxy
 * in front gets exactly the decision, identity headers and assertion a proxied request would.
 */
import { addKeycloakIdpHint } from './auth/addKeycloakIdpHint.ts';
import { authenticate } from './auth/authenticate.ts';
import { authorize } from './auth/authorize.ts';
import type {
  AnyContext,
  CheckContext,
  HttpContext,
  RequestContext,
  ResponsePass,
  Stage,
  UpgradeContext,
} from './context.ts';
import { ownEndpoints, refuseOwnUpgrade } from './endpoints/ownEndpoints.ts';
import { forwardAuth } from './forwardAuth/forwardAuth.ts';
import { injectIdentity } from './identity/injectIdentity.ts';
import { assignRequestId } from './observe/assignRequestId.ts';
import { logWhenDone } from './observe/accessLog.ts';
import { checkOrigin } from './proxy/checkOrigin.ts';
import { forwardHttp } from './proxy/forwardHttp.ts';
import { forwardUpgrade } from './proxy/forwardUpgrade.ts';
import { prepareUpstreamHeaders } from './proxy/prepareUpstreamHeaders.ts';
import { upstreamResponseHeaders } from './proxy/responseHeaders.ts';
import { fromHttp2 } from './routing/fromHttp2.ts';
import { parseTarget } from './routing/parseTarget.ts';
import { routeRequest, routeUpgrade } from './routing/routeRequest.ts';
import type { OwnApp } from './endpoints/ownEndpoints.ts';
import { answerWithoutUpstream } from './routePolicy/answerWithoutUpstream.ts';
import { checkClientAddress } from './routePolicy/checkClientAddress.ts';
import { limitAddressConcurrency } from './routePolicy/limitAddressConcurrency.ts';
import { limitAddressRate } from './routePolicy/limitAddressRate.ts';
import { limitRequestBody } from './routePolicy/limitRequestBody.ts';
import { limitUserRate } from './routePolicy/limitUserRate.ts';
import { passCorsPreflight } from './routePolicy/passCorsPreflight.ts';
import { setRequestHeaders } from './routePolicy/setRequestHeaders.ts';
import { setResponseHeaders } from './routePolicy/setResponseHeaders.ts';
import { skipLoginOnPublicPaths } from './routePolicy/skipLoginOnPublicPaths.ts';
import type { Services } from './services.ts';

/** What stages are built from: the gateway's services and its express app for /_portico/. */
export type StageServices = Services & { readonly ownApp: OwnApp };

/**
 * Built once per gateway. `built.response` is the response passes, for the forwarding stage;
 * `built.check` runs the rows marked `check` on a forward-auth check's context.
 */
export type Built = { readonly response: readonly ResponsePass[]; readonly check: Stage<CheckContext> };
type Factory<C> = (s: StageServices, built: Built) => Stage<C>;
export type StageRow =
  | { name: string; both: Factory<HttpContext | UpgradeContext> }
  | { name: string; both: Factory<AnyContext>; check: true }
  | { name: string; http?: Factory<HttpContext>; ws?: Factory<UpgradeContext> }
  | { slot: SlotName };
export type SlotName = 'beforeForward';

// biome-ignore format: the table is easier to read aligned
export const REQUEST_STAGES: readonly StageRow[] = [
  { name: 'assignRequestId',        both: assignRequestId },                       // X-Request-Id kept or created
  { name: 'logWhenDone',            both: logWhenDone },                           // one access-log line and the request metrics once answered (HTTP and upgrades)
  { name: 'fromHttp2',              http: fromHttp2 },                             // HTTP/2 only: :authority is the Host everything after reads (a different Host → 400); headers over maxHeaderSize → 431
  { name: 'parseTarget',            both: parseTarget },                           // path/query split, dot-segment and backslash tricks refused, client IP (trustProxy)
  { name: 'forwardAuth',            http: forwardAuth },                           // /_portico/auth: nginx auth_request, Traefik, Envoy ask about the request they hold; the `check` rows decide on it
  { name: 'ownEndpoints',           http: ownEndpoints,                            // /_portico/* → login, jwks, nav, health, metrics, admin, OpenID Provider (express)
                                    ws: refuseOwnUpgrade },                        //   nothing under /_portico/ is ever proxied, upgrades included
  { name: 'routeRequest',           http: routeRequest,                            // the Host's routes (host:, else the default ones; none → 404), longest prefix,
                                    ws: routeUpgrade },                            //   lenient-backend confusion refused; /dce5 → 301 /dce5/; upgrades only where websocket: true
  { name: 'checkOrigin',            ws: checkOrigin },                             // a foreign Origin refused before any byte reaches the upstream
  { name: 'checkClientAddress',     both: checkClientAddress, check: true },       // ipDeny / ipAllow on the trustProxy-resolved address → 403
  { name: 'answerWithoutUpstream',  both: answerWithoutUpstream, check: true },    // maintenance (file or admin API) → branded 503 + Retry-After; respond; redirect
  { name: 'limitAddressConcurrency', both: limitAddressConcurrency },            // rateLimit.concurrentPerIp: requests and WebSockets open at once per address → 429
  { name: 'limitAddressRate',       both: limitAddressRate, check: true },         // rateLimit.perIp, shared by replicas through the store → 429 + Retry-After
  { name: 'limitRequestBody',       http: limitRequestBody },                      // maxBodySize: Content-Length over it → 413; a chunked body counted on its way
  { name: 'skipLoginOnPublicPaths', both: skipLoginOnPublicPaths, check: true },   // public: paths run without the login, both as sent and as a backend reads them
  { name: 'passCorsPreflight',      http: passCorsPreflight },                     // cors.allowPreflight: OPTIONS preflights reach the upstream without a login
  { name: 'authenticate',           both: authenticate, check: true },             // session cookie, Portico API key, or (bearer: verify) an IdP access token; Redis down → 503
  { name: 'authorize',              both: authorize, check: true },                // auth: required → login redirect / 401; allow rules → 403
  { name: 'limitUserRate',          both: limitUserRate, check: true },            // rateLimit.perUser, per signed-in user → 429 + Retry-After
  { name: 'addKeycloakIdpHint',     http: addKeycloakIdpHint },                    // kc_idp_hint on the upstream Keycloak's authorization requests
  { name: 'prepareUpstreamHeaders', both: prepareUpstreamHeaders, check: true },   // hop-by-hop, spoofable identity headers and Portico's cookies out; Host, X-Real-IP, X-Forwarded-*
  { name: 'setRequestHeaders',      both: setRequestHeaders },                     // headers.request: set / remove (never identity, Host or framing headers)
  { name: 'injectIdentity',         both: injectIdentity, check: true },           // user/email/groups/name headers, signed assertion, access token; a Portico API key never forwarded
  { slot: 'beforeForward' },                                                       // features: branding asks for an encoding it can rewrite
  { name: 'forward',                http: forwardHttp,                             // stream to the upstream and back through RESPONSE_PASSES; 502/504
                                    ws: forwardUpgrade },                          //   101 relayed, sockets spliced, idle timeout, closed when the session ends
];

/** On the way back (HTTP): each pass sees the upstream's answer and the header list the client gets. */
// biome-ignore format: the table is easier to read aligned
export const RESPONSE_PASSES: readonly ({ name: string; pass: (s: StageServices) => ResponsePass } | { slot: 'response' })[] = [
  { name: 'upstreamResponseHeaders', pass: upstreamResponseHeaders }, // hop-by-hop out; Location and Set-Cookie moved under the prefix
  { name: 'setResponseHeaders',      pass: setResponseHeaders },      // headers.response set / remove; securityHeaders added where the upstream sent none
  { slot: 'response' },                                              // features: branding injects its theme into HTML pages
];

/** What features add to the slots. */
export type FeatureStages = {
  beforeForward?: { http?: Factory<HttpContext>; ws?: Factory<UpgradeContext> }[];
  response?: ((s: StageServices) => ResponsePass)[];
};

/** The stage lists of one gateway: built once, from the table, the services and the features' stages. */
export function buildPipeline(services: StageServices, extra: FeatureStages) {
  const response: ResponsePass[] = [];
  for (const row of RESPONSE_PASSES) {
    if ('slot' in row) for (const p of extra.response ?? []) response.push(p(services));
    else response.push(row.pass(services));
  }
  const check: Stage<CheckContext>[] = [];
  const built: Built = { response, check: (ctx) => runStages(check, ctx) };
  const http: Stage<HttpContext>[] = [];
  const ws: Stage<UpgradeContext>[] = [];
  for (const row of REQUEST_STAGES) {
    if ('slot' in row) {
      for (const s of extra[row.slot] ?? []) {
        if (s.http) http.push(s.http(services, built));
        if (s.ws) ws.push(s.ws(services, built));
      }
    } else if ('check' in row) {
      const stage = row.both(services, built);
      http.push(stage);
      ws.push(stage);
      check.push(stage);
    } else if ('both' in row) {
      const stage = row.both(services, built);
      http.push(stage);
      ws.push(stage);
    } else {
      if (row.http) http.push(row.http(services, built));
      if (row.ws) ws.push(row.ws(services, built));
    }
  }
  return { http, ws, response };
}

export type Pipeline = ReturnType<typeof buildPipeline>;

export function runStages<C extends RequestContext>(
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
