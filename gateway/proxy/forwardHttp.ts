import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { HttpContext } from '../context.ts';
import { channels } from '../ops/channels.ts';
import { respondError } from '../pages/respondError.ts';
import { upstreamPath } from '../routing/matchRoute.ts';
import { responseHeaders } from './responseHeaders.ts';
import { classifyUpstreamError, UpstreamTimeout, upstreamGatewayError } from './upstreamError.ts';

const RETRYABLE = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * The last stage: streams the request to the upstream and the answer back, never buffering a body.
 * A stage placed before it may set `ctx.transformResponse` (branding) to rewrite HTML answers.
 */
export function forwardHttp(ctx: HttpContext): void {
  const route = ctx.route!;
  const { req } = ctx;
  const hasBody =
    req.headers['content-length'] !== undefined
      ? req.headers['content-length'] !== '0'
      : req.headers['transfer-encoding'] !== undefined;
  const options: RequestOptions = {
    protocol: route.upstream.protocol,
    hostname: route.upstream.hostname.replace(/^\[|\]$/g, ''),
    port: route.upstream.port || undefined,
    method: req.method,
    path: upstreamPath(route, ctx.path) + ctx.query,
    headers: ctx.upstreamHeaders,
    agent: route.agent,
    // The socket's idle timeout, set as the socket is assigned (no per-request 'socket' wrapper).
    timeout: route.idleTimeoutMs,
  };
  delete ctx.upstreamHeaders.expect; // Node has already answered 100-continue to the client.
  send(ctx, options, hasBody, RETRYABLE.has(req.method ?? '') && !hasBody);
}

function send(ctx: HttpContext, options: RequestOptions, hasBody: boolean, mayRetry: boolean): void {
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
    const status = upstreamRes.statusCode ?? 502;
    const transform = ctx.transformResponse?.(ctx, upstreamRes);
    if (transform) {
      transform.start(res, upstreamRes, responseHeaders(route, upstreamRes));
    } else {
      res.writeHead(status, upstreamRes.statusMessage, responseHeaders(route, upstreamRes));
      relayBody(upstreamRes, res);
    }
    upstreamRes.on('error', () => res.destroy());
  });

  upstreamReq.on('error', (err) => {
    clearTimeout(connectTimer);
    if (!answered && mayRetry && upstreamReq.reusedSocket && classifyUpstreamError(err) === 'reset') {
      // A keep-alive socket the upstream closed as we reused it: the request never reached it.
      send(ctx, options, hasBody, false);
      return;
    }
    if (channels.upstreamError.hasSubscribers) {
      channels.upstreamError.publish({ routeId: route.id, kind: classifyUpstreamError(err), err });
    }
    if (answered || res.headersSent) {
      res.destroy();
      return;
    }
    const gatewayError = upstreamGatewayError(err);
    ctx.log.warn(
      { err, route: route.id, reqId: ctx.requestId, reason: gatewayError.extra?.reason },
      'upstream failed',
    );
    respondError(req, res, gatewayError, ctx.requestId);
  });

  res.on('close', () => {
    if (!res.writableFinished) upstreamReq.destroy();
  });

  if (hasBody) req.pipe(upstreamReq);
  else upstreamReq.end();
}

/**
 * The response body, upstream to client, with backpressure: three listeners where stream.pipe()
 * hangs about ten on every response (the proxied path runs this once per request).
 */
function relayBody(from: IncomingMessage, to: import('node:http').ServerResponse): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) from.pause();
  });
  to.on('drain', () => from.resume());
  from.on('end', () => to.end());
}
