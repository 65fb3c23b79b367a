import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';
import { PassThrough, Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { ServerGroup } from '../config/types.ts';
import type { HttpContext, ResponsePass, Stage, UpstreamHead, UpstreamResponse } from '../context.ts';
import { GatewayError } from '../errors.ts';
import { respondError } from '../pages/errorResponse.ts';
import { upstreamPath } from '../routing/matchRoute.ts';
import type { Services } from '../services.ts';
import { requestHasBody } from './requestHasBody.ts';
import { sendContinue } from './sendContinue.ts';
import type { Balancer } from './balancer.ts';
import { CONNECTION_FAILURES, classifyUpstreamError, upstreamGatewayError } from './upstreamError.ts';
import { QUEUED_ABORT, type UpstreamEndpoint } from './upstreamPool.ts';

const RETRYABLE = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Sent again on another of a route's `upstreams` after a failed connection (nginx `proxy_next_upstream error timeout`). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

type Deps = Pick<Services, 'upstreams' | 'events' | 'pages'>;

/**
 * The last stage: streams the request to the upstream and the answer back through the response
 * passes (header rewrites, branding), never buffering a body. undici's `dispatch()` with a handler
 * that writes straight to the client's response: no stream object per request between the two
 * (measured: 76 µs of CPU per request against 92 for undici's `request()` and 104 for node:http).
 * A connection the upstream closed as it was reused is retried once for requests without a body
 * whose method is idempotent; nothing else is retried. A route with several `upstreams` picks a
 * server per request (balancer.ts) and sends a request without a body whose connection failed
 * once more, to another server: any idempotent method after any failure before the answer, any
 * method when the connection was refused (nothing was sent). A body is never sent twice.
 */
/** Characters a reason phrase may not hold (RFC 9112 §4: HTAB, SP, VCHAR, obs-text). */
const BAD_REASON = /[^\t\x20-\x7e\x80-\xff]/;

export function forwardHttp(
  s: Deps,
  built: { readonly response: readonly ResponsePass[] },
): Stage<HttpContext> {
  const passes = built.response;
  return (ctx) => {
    const { req } = ctx;
    const hasBody = requestHasBody(req);
    // Portico answers 100-continue to the client itself (below); undici refuses the header.
    delete ctx.upstreamHeaders.expect;
    const route = ctx.route!;
    if (route.servers === undefined) {
      send(s, passes, ctx, hasBody, RETRYABLE.has(req.method ?? '') && !hasBody, undefined, -1);
      return;
    }
    const balancer = s.upstreams.balancer(route as typeof route & { servers: ServerGroup });
    const server = balancer.pick(ctx.sessionId, -1);
    // Once, and never a body: which methods and failures may go on is decided when one fails.
    send(s, passes, ctx, hasBody, !hasBody, balancer, server);
  };
}

function send(
  s: Deps,
  passes: readonly ResponsePass[],
  ctx: HttpContext,
  hasBody: boolean,
  mayRetry: boolean,
  /** A route with `upstreams`: its servers, and the one picked (`server`); undefined: its one `upstream`. */
  balancer: Balancer | undefined,
  server: number,
): void {
  const route = ctx.route!;
  const { req, res } = ctx;
  let head: UpstreamHead | undefined;
  let body: UpstreamBody | undefined;
  let upstream: Dispatcher.DispatchController | undefined;
  let clientGone = false;
  // Set while the request waits for a free connection (every one of the pool's busy).
  let queued: NodeJS.Timeout | undefined;
  // undici's way to take the request out of its queue while it waits (QUEUED_ABORT).
  let dequeue: ((reason: Error) => void) | undefined;
  // Answered 504 after waiting for a connection: what undici reports of it later is no news.
  let answeredBusy = false;
  // Listening from the dispatch on, not from onRequestStart: a request waiting in the pool's queue
  // (every connection busy) whose client leaves is then never sent at all.
  const onClientClose = () => {
    // writableEnded, not writableFinished: HTTP/2's compatibility response reports a stream the
    // client reset (RST_STREAM) as finished, and its upstream request was then left open until
    // the upstream answered or the idle timeout (review: h2 clients resetting held streams).
    if (res.writableEnded) return;
    clientGone = true;
    if (upstream) upstream.abort(new Error('the client went away'));
    else leaveQueue(new Error('the client went away'));
  };
  // Out of undici's queue at once, its handler and request let go: left there, every request that
  // gave up waiting would be kept until a connection came free (long streams may hold them all for
  // hours), then open a connection only to abort it.
  const leaveQueue = (reason: Error) => {
    clearTimeout(queued);
    queued = undefined;
    const cancel = dequeue;
    dequeue = undefined;
    cancel?.(reason);
  };
  res.once('close', onClientClose);
  // The route's idle timeout also bounds a client that stops reading the answer: undici's
  // bodyTimeout does not run while Portico holds the upstream paused for it (nginx send_timeout).
  let stalled: NodeJS.Timeout | undefined;
  const waitForClient = (controller: Dispatcher.DispatchController) => {
    controller.pause();
    clearTimeout(stalled);
    stalled = setTimeout(() => {
      ctx.log.info({ route: route.id, reqId: ctx.requestId }, 'client stopped reading the answer; closed');
      controller.abort(new Error('the client stopped reading'));
    }, route.idleTimeoutMs);
  };
  const clientReads = (controller: Dispatcher.DispatchController) => {
    clearTimeout(stalled);
    controller.resume();
  };
  const handler: Dispatcher.DispatchHandler = {
    onRequestStart(controller) {
      upstream = controller;
      dequeue = undefined;
      if (queued !== undefined) {
        clearTimeout(queued);
        queued = undefined;
      }
      if (clientGone) controller.abort(new Error('the client went away'));
    },
    onResponseStart(controller, statusCode, headers, statusMessage) {
      // 1xx: Node answers 100-continue itself; the final answer follows.
      if (statusCode < 200) return;
      balancer?.answered(server);
      // RFC 9110 has no status above 599, and HTTP/2 none to send: a broken upstream (502).
      if (statusCode > 599) {
        controller.abort(new Error(`the upstream answered status ${statusCode}`));
        return;
      }
      head = {
        statusCode,
        // A reason phrase Node would refuse to write (a control character): the status's own.
        statusMessage: statusMessage && BAD_REASON.test(statusMessage) ? '' : (statusMessage ?? ''),
        headers,
        rawHeaders: rawList(controller.rawHeaders, headers),
      };
      const out: string[] = [];
      for (const pass of passes) pass(ctx, head, out);
      if (ctx.transform) {
        body = new UpstreamBody(head, controller, clientReads);
        ctx.transform.start(res, body as UpstreamResponse, out);
        return;
      }
      try {
        res.writeHead(statusCode, head.statusMessage, out);
      } catch (err) {
        // An answer Node will not write: a control character in the reason phrase, a header
        // HTTP/2 takes once sent twice, a status HTTP/2 has no room for. What it had set is
        // dropped (the 502 would carry it, or fail the same way and leave the client hanging).
        res.statusMessage = '';
        for (const name of res.getHeaderNames()) res.removeHeader(name);
        head = undefined;
        controller.abort(err as Error);
      }
    },
    onResponseData(controller, chunk) {
      if (body) {
        if (!body.push(chunk)) waitForClient(controller);
        return;
      }
      if (!res.write(chunk)) {
        waitForClient(controller);
        res.once('drain', () => clientReads(controller));
      }
    },
    onResponseEnd() {
      if (balancer) balancer.endpoints[server]!.state.inFlight--;
      clearTimeout(stalled);
      res.off('close', onClientClose);
      if (body) body.push(null);
      else res.end();
    },
    onResponseError(_controller, err) {
      if (balancer) balancer.endpoints[server]!.state.inFlight--;
      clearTimeout(stalled);
      // A request that failed while it waited (its connection refused) waits no more: left
      // running, the wait's timer would end the retry's answer (another server's) at this
      // attempt's idle timeout.
      clearTimeout(queued);
      queued = undefined;
      dequeue = undefined;
      res.off('close', onClientClose);
      // Answered 504 while it waited for a connection: this is that wait's end, nothing to say.
      if (answeredBusy) return;
      if (err instanceof GatewayError) {
        // A stage stopped the upload on purpose (a body over the limit): not the upstream's failure.
        if (body) body.destroy(err);
        else if (head || res.headersSent) res.destroy();
        else respondError(req, res, err, ctx.requestId, s.pages);
        return;
      }
      const kind = classifyUpstreamError(err);
      if (balancer && !head && !res.destroyed && CONNECTION_FAILURES.has(kind)) {
        balancer.failed(server);
        if (mayRetry && (kind === 'refused' || IDEMPOTENT.has(req.method ?? ''))) {
          const next = balancer.pick(ctx.sessionId, server);
          if (next !== server) {
            ctx.log.warn(
              {
                err,
                route: route.id,
                reqId: ctx.requestId,
                server: balancer.group.list[server]!.origin,
                reason: kind,
              },
              'upstream server failed, trying another',
            );
            send(s, passes, ctx, hasBody, false, balancer, next);
            return;
          }
        }
      } else if (!balancer && !head && mayRetry && kind === 'reset' && !res.destroyed) {
        // A keep-alive connection the upstream closed as it was reused: send it once more.
        send(s, passes, ctx, hasBody, false, undefined, -1);
        return;
      }
      if (body) {
        body.destroy(err);
        return;
      }
      // The client left (an HTTP/2 stream reset leaves the response undestroyed): nobody to answer.
      if (clientGone || res.destroyed || (head && res.headersSent)) {
        res.destroy();
        return;
      }
      if (s.events.has('upstreamError'))
        s.events.emit('upstreamError', { routeId: route.id, kind, err, server: ctx.server });
      const gatewayError = upstreamGatewayError(err);
      ctx.log.warn(
        {
          err,
          route: route.id,
          reqId: ctx.requestId,
          reason: gatewayError.extra?.reason,
          server: ctx.server,
        },
        'upstream failed',
      );
      respondError(req, res, gatewayError, ctx.requestId, s.pages);
    },
  };
  let endpoint: UpstreamEndpoint;
  if (balancer) {
    const picked = balancer.group.list[server]!;
    endpoint = balancer.endpoints[server]!;
    endpoint.state.inFlight++;
    ctx.server = picked.origin;
    if (!route.preserveHost) ctx.upstreamHeaders.host = picked.host;
  } else endpoint = s.upstreams.endpoint(route);
  if (hasBody) {
    sendContinue(req, res);
    watchUpload(ctx, route.idleTimeoutMs);
  }
  const sent = hasBody ? (ctx.requestBody?.(req) ?? req) : null;
  const upload = sent && req.httpVersionMajor === 2 ? unlessReset(req, sent) : sent;
  const free = endpoint.pool.dispatch(
    {
      method: req.method as Dispatcher.HttpMethod,
      // Not in undici's types, but read by its Request: the TLS name is the upstream's, not the Host's.
      ...(endpoint.servername ? { servername: endpoint.servername } : {}),
      path: upstreamPath(route, ctx.path) + ctx.query,
      headers: ctx.upstreamHeaders as Record<string, string | string[]>,
      body: upload,
      // The route's idle timeout: the longest silence before the answer starts, and within it.
      headersTimeout: route.idleTimeoutMs,
      bodyTimeout: route.idleTimeoutMs,
      [QUEUED_ABORT]: (cancel: (reason: Error) => void) => {
        dequeue = cancel;
      },
    } as Dispatcher.DispatchOptions,
    handler,
  );
  // false: every connection to the server is taken (maxConnections), this request perhaps by the
  // last one, perhaps queued. A queued request waits at most the route's idle timeout, the
  // longest silence before an answer, as a sent one does (undici's timeouts start only once it is
  // sent); then 504, and it is taken out of undici's queue, never sent.
  if (!free) warnBusy(ctx, endpoint, route.maxConnections);
  if (!free && upstream === undefined) {
    queued = setTimeout(() => {
      queued = undefined;
      if (upstream !== undefined || res.writableFinished || res.destroyed) return;
      clientGone = true;
      answeredBusy = true;
      res.off('close', onClientClose);
      ctx.log.warn(
        { route: route.id, reqId: ctx.requestId, server: ctx.server, maxConnections: route.maxConnections },
        'no upstream connection came free within the idle timeout',
      );
      respondError(
        req,
        res,
        new GatewayError('PORTICO_ERR_UPSTREAM_TIMEOUT', { extra: { reason: 'busy' } }),
        ctx.requestId,
        s.pages,
      );
      leaveQueue(new Error('no upstream connection came free'));
    }, route.idleTimeoutMs);
  }
}

/** At most once a minute per server: every request on a saturated route would say it. */
const BUSY_WARN_EVERY_MS = 60_000;

/**
 * The pool towards a server is full: said once a minute per server, with what to change — requests
 * now wait for a connection instead of reaching the upstream (nginx would open more, or 502 with
 * `max_conns`).
 */
function warnBusy(ctx: HttpContext, endpoint: UpstreamEndpoint, maxConnections: number): void {
  const now = performance.now();
  if (now - endpoint.state.busyWarnedAt < BUSY_WARN_EVERY_MS && endpoint.state.busyWarnedAt !== 0) return;
  endpoint.state.busyWarnedAt = now;
  ctx.log.warn(
    { route: ctx.route?.id, server: ctx.server ?? ctx.route?.upstream?.origin, maxConnections },
    `all ${maxConnections} connections to the upstream are busy: requests wait for one (routes[].maxConnections)`,
  );
}

/**
 * The route's idle timeout between two pieces of an upload (nginx client_body_timeout): undici's
 * headersTimeout does not run while it is still sending the body, and a client that sends the
 * first bytes of a body and then nothing would hold an upstream connection for as long as it
 * liked (256 of them: the route's whole pool). Node restarts the timer on every read.
 */
function watchUpload(ctx: HttpContext, idleMs: number): void {
  const { req } = ctx;
  if (req.complete) return;
  const stall = () => {
    ctx.log.info({ route: ctx.route?.id, reqId: ctx.requestId }, 'client stopped sending the body; closed');
    req.destroy();
  };
  req.setTimeout(idleMs, stall);
  req.once('end', () => {
    req.off('timeout', stall);
    // An answer already finished has set the connection's keep-alive timeout in its place.
    if (!ctx.res.writableFinished) req.setTimeout(0);
  });
}

/**
 * HTTP/2: a stream the client resets (RST_STREAM) ends its request like a finished one — Node
 * ends the readable side first and reports the reset just after — and the upload would reach the
 * upstream as a complete request cut short (the chunked terminator after half a JSON document).
 * So the end is passed on one turn later, once a reset would have been reported; a reset fails
 * the body instead, and undici aborts the upstream request as for a closed HTTP/1.1 connection.
 */
function unlessReset(req: IncomingMessage, body: Readable): Readable {
  const out = new PassThrough();
  let reset = (req as unknown as Http2ServerRequest).aborted;
  const cancel = () => {
    reset = true;
    out.destroy(new Error('the client cancelled the upload'));
  };
  if (reset) cancel();
  else req.once('aborted', cancel);
  body.on('error', (err) => out.destroy(err));
  body.on('end', () =>
    setImmediate(() => {
      if (!reset) out.end();
    }),
  );
  body.pipe(out, { end: false });
  return out;
}

/** The header list as the upstream sent it (names in their own case), from undici's raw buffers. */
function rawList(raw: Dispatcher.DispatchController['rawHeaders'], headers: IncomingHttpHeaders): string[] {
  const out: string[] = [];
  if (Array.isArray(raw)) {
    for (let i = 0; i < raw.length; i++) {
      const v = raw[i]!;
      out.push(typeof v === 'string' ? v : v.toString('latin1'));
    }
    return out;
  }
  for (const [name, value] of Object.entries(headers)) {
    if (Array.isArray(value)) for (const v of value) out.push(name, v);
    else if (value !== undefined) out.push(name, value);
  }
  return out;
}

/**
 * The upstream's body as a stream, made only when a transform rewrites the answer (a branded
 * page): the transform reads it like a response, and its pace pauses and resumes the upstream.
 */
class UpstreamBody extends Readable implements UpstreamHead {
  readonly statusCode: number;
  readonly statusMessage: string;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: readonly string[];
  readonly #controller: Dispatcher.DispatchController;
  readonly #resume: (controller: Dispatcher.DispatchController) => void;
  constructor(
    head: UpstreamHead,
    controller: Dispatcher.DispatchController,
    resume: (controller: Dispatcher.DispatchController) => void,
  ) {
    super();
    this.statusCode = head.statusCode;
    this.statusMessage = head.statusMessage;
    this.headers = head.headers;
    this.rawHeaders = head.rawHeaders;
    this.#controller = controller;
    this.#resume = resume;
  }
  override _read(): void {
    if (this.#controller.paused) this.#resume(this.#controller);
  }
  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    if (!this.#controller.aborted && this.readableEnded === false)
      this.#controller.abort(err ?? new Error('closed'));
    callback(err);
  }
}
