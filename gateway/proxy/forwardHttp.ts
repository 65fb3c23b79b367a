import {
  request as httpRequest,
  type IncomingMessage,
  type RequestOptions,
  type ServerResponse,
} from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { HttpContext, ResponsePass, Stage } from '../context.ts';
import { GatewayError } from '../errors.ts';
import { respondError } from '../pages/errorResponse.ts';
import { upstreamPath } from '../routing/matchRoute.ts';
import type { Services } from '../services.ts';
import { sendContinue } from './sendContinue.ts';
import { classifyUpstreamError, UpstreamTimeout, upstreamGatewayError } from './upstreamError.ts';

const RETRYABLE = new Set(['GET', 'HEAD', 'OPTIONS']);

type Deps = Pick<Services, 'upstreams' | 'events' | 'pages'>;

/**
 * The last stage: streams the request to the upstream and the answer back through the response
 * passes (header rewrites, branding), never buffering a body. A keep-alive socket the upstream
 * closed as it was reused is retried once for idempotent requests without a body.
 */
export function forwardHttp(
  s: Deps,
  built: { readonly response: readonly ResponsePass[] },
): Stage<HttpContext> {
  const passes = built.response;
  return (ctx) => {
    const route = ctx.route!;
    // Routes without an upstream answer before this stage (routePolicy/answerWithoutUpstream.ts).
    const upstream = route.upstream!;
    const { req } = ctx;
    const hasBody =
      req.headers['content-length'] !== undefined
        ? req.headers['content-length'] !== '0'
        : req.headers['transfer-encoding'] !== undefined;
    const options: RequestOptions = {
      protocol: upstream.protocol,
      hostname: upstream.hostname.replace(/^\[|\]$/g, ''),
      port: upstream.port || undefined,
      method: req.method,
      path: upstreamPath(route, ctx.path) + ctx.query,
      headers: ctx.upstreamHeaders,
      agent: s.upstreams.endpoint(route).agent,
      // The socket's idle timeout, set as the socket is assigned (no per-request 'socket' wrapper).
      timeout: route.idleTimeoutMs,
    };
    delete ctx.upstreamHeaders.expect; // Portico answers 100-continue to the client itself (below).
    send(s, passes, ctx, options, hasBody, RETRYABLE.has(req.method ?? '') && !hasBody);
  };
}

function send(
  s: Deps,
  passes: readonly ResponsePass[],
  ctx: HttpContext,
  options: RequestOptions,
  hasBody: boolean,
  mayRetry: boolean,
): void {
  const route = ctx.route!;
  const { req, res } = ctx;
  const upstreamReq = (route.secure ? httpsRequest : httpRequest)(options);
  let answered = false;
  let connectTimer: NodeJS.Timeout | undefined;

  upstreamReq.on('socket', (socket) => {
    if ((socket as { connecting?: boolean }).connecting) {
      connectTimer = setTimeout(
        () => upstreamReq.destroy(new UpstreamTimeout('connect')),
        route.connectTimeoutMs,
      );
      socket.once(route.secure ? 'secureConnect' : 'connect', () => clearTimeout(connectTimer));
    }
  });
  upstreamReq.on('timeout', () => upstreamReq.destroy(new UpstreamTimeout('idle')));

  upstreamReq.on('response', (upstreamRes: IncomingMessage) => {
    answered = true;
    clearTimeout(connectTimer);
    const headers: string[] = [];
    for (const pass of passes) pass(ctx, upstreamRes, headers);
    if (ctx.transform) {
      ctx.transform.start(res, upstreamRes, headers);
    } else {
      res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.statusMessage, headers);
      relayBody(upstreamRes, res);
    }
    upstreamRes.on('error', () => res.destroy());
  });

  upstreamReq.on('error', (err) => {
    clearTimeout(connectTimer);
    if (err instanceof GatewayError) {
      // A stage stopped the upload on purpose (a body over the limit): not the upstream's failure.
      if (answered || res.headersSent) res.destroy();
      else respondError(req, res, err, ctx.requestId, s.pages);
      return;
    }
    const kind = classifyUpstreamError(err);
    if (!answered && mayRetry && upstreamReq.reusedSocket && kind === 'reset') {
      // A keep-alive socket the upstream closed as we reused it: the request never reached it.
      send(s, passes, ctx, options, hasBody, false);
      return;
    }
    if (s.events.has('upstreamError')) s.events.emit('upstreamError', { routeId: route.id, kind, err });
    if (answered || res.headersSent) {
      res.destroy();
      return;
    }
    const gatewayError = upstreamGatewayError(err);
    ctx.log.warn(
      { err, route: route.id, reqId: ctx.requestId, reason: gatewayError.extra?.reason },
      'upstream failed',
    );
    respondError(req, res, gatewayError, ctx.requestId, s.pages);
  });

  res.on('close', () => {
    if (!res.writableFinished) upstreamReq.destroy();
  });

  if (!hasBody) {
    upstreamReq.end();
    return;
  }
  sendContinue(req, res);
  if (ctx.relayRequestBody) ctx.relayRequestBody(req, upstreamReq);
  else req.pipe(upstreamReq);
}

/**
 * The response body, upstream to client, with backpressure: three listeners where stream.pipe()
 * hangs about ten on every response (the proxied path runs this once per request).
 */
function relayBody(from: IncomingMessage, to: ServerResponse): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) from.pause();
  });
  to.on('drain', () => from.resume());
  from.on('end', () => to.end());
}
