import type { HttpContext, Stage, UpgradeContext } from '../context.ts';
import type { Services } from '../services.ts';

const OWN = '/_portico';
/**
 * Query parameters that carry credentials on their way to an upstream: OAuth codes and tokens (the
 * code Portico's OpenID Provider sends DCE 5's Keycloak arrives at /dce5/…/endpoint?code=…), SAML
 * messages, CAS tickets. Their values are left out of the access log; the names stay.
 */
const CREDENTIAL_PARAM =
  /([?&](?:code|state|access_token|id_token|id_token_hint|refresh_token|token|logout_token|client_secret|client_assertion|code_verifier|password|samlresponse|samlrequest|samlart|relaystate|ticket|session_state|key|api_key|apikey|x-amz-signature|x-amz-credential|x-amz-security-token)=)[^&#]*/gi;

/**
 * One access-log line per request, and the `request` event metrics count, once the exchange is
 * answered: for HTTP when the response closes, for a WebSocket upgrade when it is answered (101
 * or refused). Not through pino-http: the benchmark measured its per-request child logger at
 * ~45 µs of CPU per request, a third of the proxied path (the line: accessLogWriter.ts). With logging off and no listener, nothing is attached.
 */
export function logWhenDone(s: Pick<Services, 'accessLog' | 'events'>): Stage<HttpContext | UpgradeContext> {
  const { accessLog, events } = s;
  return (ctx) => {
    const logging = ctx.config.logging.accessLog && accessLog.enabled;
    if (!logging && !events.has('request')) return;
    // Express rewrites req.url for Portico's own endpoints, and their queries (OAuth `code`,
    // `state`, SAML responses) are credentials that never go into a log.
    const rawUrl = logging ? (ctx.req.url ?? '') : '';
    const url = rawUrl.startsWith(`${OWN}/`)
      ? rawUrl.split('?')[0]
      : rawUrl.includes('?')
        ? rawUrl.replace(CREDENTIAL_PARAM, '$1[redacted]')
        : rawUrl;
    const finish = (status: number, aborted: boolean) => {
      const durationMs = performance.now() - ctx.startedAt;
      const path = ctx.path;
      if (events.has('request'))
        events.emit('request', {
          ctx,
          kind: ctx.kind,
          routeId: ctx.route?.id,
          own: path === OWN || path.startsWith(`${OWN}/`),
          method: ctx.req.method,
          status,
          durationMs,
          aborted,
        });
      if (!logging) return;
      accessLog.write({
        reqId: ctx.requestId,
        method: ctx.req.method,
        url,
        remote: ctx.clientIp || ctx.req.socket.remoteAddress,
        route: ctx.route?.id,
        upstream: ctx.server,
        status,
        user: ctx.identity?.username,
        ms: Math.round(durationMs),
        aborted: aborted || undefined,
        ws: ctx.kind === 'ws' || undefined,
        h2: ctx.req.httpVersionMajor === 2 || undefined,
      });
    };
    if (ctx.kind === 'http') {
      const res = ctx.res;
      // An HTTP/2 stream the client reset counts as finished but was never ended: aborted too.
      res.once('close', () => finish(res.statusCode, !res.writableFinished || !res.writableEnded));
    } else {
      let once = false;
      ctx.answered = (status) => {
        if (once) return;
        once = true;
        finish(status, false);
      };
    }
  };
}
