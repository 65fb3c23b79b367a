import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ServerGroup } from '../config/types.ts';
import type { Stage, UpgradeContext } from '../context.ts';
import type { EventBus } from '../events.ts';
import { rejectUpgrade } from '../pages/errorResponse.ts';
import { upstreamPath } from '../routing/matchRoute.ts';
import type { Services } from '../services.ts';
import { connectionTokens, HOP_BY_HOP } from './hopByHop.ts';
import { setsOwnCookie } from './setsOwnCookie.ts';
import { tunnelGrant, tunnelStillAllowed } from './tunnelStillAllowed.ts';
import type { TunnelGrant, Tunnels } from './tunnels.ts';
import type { Balancer, ServerState } from './balancer.ts';
import {
  CONNECTION_FAILURES,
  classifyUpstreamError,
  UpstreamTimeout,
  upstreamGatewayError,
} from './upstreamError.ts';
import { request as httpRequest } from '../nodeHttp.ts';

function destroySelf(this: Duplex): void {
  this.destroy();
}
function ignore(): void {}

type Deps = Pick<Services, 'upstreams' | 'events' | 'tunnels' | 'sessions' | 'config'>;

/** The upgrade asked for again, hop by hop: the client's Upgrade and Connection never pass as they are. */
export function asUpgrade(
  headers: OutgoingHttpHeaders,
  req: Pick<IncomingMessage, 'headers'>,
): OutgoingHttpHeaders {
  headers.connection = 'upgrade';
  headers.upgrade = req.headers.upgrade;
  // An upgrade with a body was refused (routeUpgrade); a `Content-Length: 0` is not passed on, or
  // after a 101 the upstream could take the tunnel's first bytes for a body. Nor is Expect: there
  // is no body to wait for.
  if (headers['content-length'] !== undefined) delete headers['content-length'];
  if (headers.expect !== undefined) delete headers.expect;
  return headers;
}

/**
 * Forwards a WebSocket (or any HTTP/1.1 Upgrade) to the upstream and, once it answers 101, splices
 * the two sockets. Subprotocols (`tty` for cloudtty/ttyd) and extensions pass through untouched;
 * a refusal by the upstream is relayed as it came. The tunnel is registered with the session it
 * was opened with, so it closes when that session ends, on whichever replica it ends. A route with
 * several `upstreams` picks a server as for HTTP (an open tunnel counts for least-conn) and tries
 * another once when the connection fails before the upstream answers.
 */
export function forwardUpgrade(s: Deps): Stage<UpgradeContext> {
  return (ctx) => {
    const route = ctx.route!;
    const headers = asUpgrade(ctx.upstreamHeaders, ctx.req);
    if (route.servers === undefined) {
      connect(s, ctx, headers, undefined, -1, false);
      return;
    }
    const balancer = s.upstreams.balancer(route as typeof route & { servers: ServerGroup });
    connect(s, ctx, headers, balancer, balancer.pick(ctx.sessionId, -1), false);
  };
}

function connect(
  s: Deps,
  ctx: UpgradeContext,
  headers: OutgoingHttpHeaders,
  /** A route with `upstreams`: its servers, and the one picked (`server`); undefined: its one `upstream`. */
  balancer: Balancer | undefined,
  server: number,
  retried: boolean,
): void {
  const route = ctx.route!;
  // Routes without an upstream never take upgrades (config/routePolicyProblems.ts).
  let upstream = route.upstream!;
  let state: ServerState | undefined;
  let tlsOptions: Readonly<Record<string, unknown>>;
  if (balancer) {
    const picked = balancer.group.list[server]!;
    upstream = picked.url;
    state = balancer.endpoints[server]!.state;
    state.inFlight++;
    tlsOptions = balancer.endpoints[server]!.tlsOptions;
    ctx.server = picked.origin;
    if (!route.preserveHost) headers.host = picked.host;
  } else tlsOptions = s.upstreams.endpoint(route).tlsOptions;
  const { req, socket, head } = ctx;
  // The client left while an earlier stage awaited (a session read, a rate counter): nothing
  // would ever close an upstream request opened now (review: leaked connections to a watch).
  if (socket.destroyed) {
    if (state) state.inFlight--;
    return;
  }
  const upstreamReq = (route.secure ? process.getBuiltinModule('node:https').request : httpRequest)({
    protocol: upstream.protocol,
    hostname: upstream.hostname.replace(/^\[|\]$/g, ''),
    port: upstream.port || undefined,
    method: req.method,
    path: upstreamPath(route, ctx.path) + ctx.query,
    headers,
    agent: false,
    ...tlsOptions,
  });
  let settled = false;
  const connectTimer = setTimeout(
    () => upstreamReq.destroy(new UpstreamTimeout('connect')),
    route.connectTimeoutMs,
  );
  // A plain timer rather than upstreamReq.setTimeout(): that would hang a listener holding the
  // request (and this whole closure) on the socket for the life of the tunnel.
  const answerTimer = setTimeout(() => upstreamReq.destroy(new UpstreamTimeout('idle')), route.idleTimeoutMs);
  const onEarlyClose = () => upstreamReq.destroy();
  socket.once('close', onEarlyClose);
  const settle = () => {
    settled = true;
    clearTimeout(connectTimer);
    clearTimeout(answerTimer);
    socket.off('close', onEarlyClose);
  };

  upstreamReq.on('upgrade', (upstreamRes: IncomingMessage, upstreamSocket: Duplex, upstreamHead: Buffer) => {
    settle();
    balancer?.answered(server);
    // Until tunnel() takes over, an error on either side ends both (no closure over this scope:
    // one surviving closure would keep the whole request alive as long as the WebSocket).
    upstreamSocket.on('error', destroySelf);
    if (socket.destroyed) {
      if (state) state.inFlight--;
      upstreamSocket.destroy();
      return;
    }
    const lines = [`HTTP/1.1 101 ${upstreamRes.statusMessage || 'Switching Protocols'}`];
    const raw = upstreamRes.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) {
      if (raw[i]!.toLowerCase() === 'set-cookie' && setsOwnCookie(raw[i + 1]!, ctx.config.ownCookies))
        continue;
      lines.push(`${raw[i]}: ${raw[i + 1]}`);
    }
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (upstreamHead.length > 0) socket.write(upstreamHead);
    if (head.length > 0) upstreamSocket.write(head);
    // Nothing of the request stays reachable from the sockets: an idle terminal costs its two sockets.
    upstreamReq.removeAllListeners();
    upstreamReq.on('error', ignore);
    // Node leaves the finished request hanging off the socket (_httpMessage); drop it.
    (upstreamSocket as Duplex & { _httpMessage?: unknown })._httpMessage = null;
    ctx.answered?.(101);
    // A terminal ends with what let it in: its session's maximum age, or its bearer token's expiry
    // (one whose introspection gave no expiry: a session's maximum age from now).
    const expiresAt = ctx.session
      ? ctx.session.createdAt + s.sessions.maxAgeMs
      : ctx.credential === 'bearer'
        ? (ctx.identity?.tokenExpiresAt ?? Date.now() + s.sessions.maxAgeMs)
        : Number.POSITIVE_INFINITY;
    const grant = tunnelGrant(ctx);
    tunnel(
      s.events,
      s.tunnels,
      route.id,
      route.idleTimeoutMs,
      ctx.sessionId,
      expiresAt,
      grant,
      socket,
      upstreamSocket,
      state,
    );
    // A reload while the upstream was answering re-judged the open terminals, not this one.
    const now = s.config();
    if (now !== ctx.config) s.tunnels.recheck((g) => g !== grant || tunnelStillAllowed(now, g));
    // Nor did a sign-out, a revocation or a refused refresh in that time close it (it was not
    // registered yet): its session is read again now that it is (review: a terminal pod that
    // takes a second to answer left that second open).
    const id = ctx.sessionId;
    if (id !== undefined)
      void s.sessions.stands(id).then(
        (stands) => stands || s.tunnels.closeSession(id),
        () => {},
      );
  });

  upstreamReq.on('response', (upstreamRes: IncomingMessage) => {
    // The upstream declined to upgrade: relay its answer as it is.
    settle();
    if (state) {
      balancer!.answered(server);
      state.inFlight--;
    }
    // The client is gone already: a pipe into its closed socket would stall the answer forever.
    if (socket.destroyed) {
      upstreamReq.destroy();
      return;
    }
    const lines = [`HTTP/1.1 ${upstreamRes.statusCode} ${upstreamRes.statusMessage ?? ''}`];
    const raw = upstreamRes.rawHeaders;
    const extraHop = connectionTokens(upstreamRes.headers.connection);
    for (let i = 0; i < raw.length; i += 2) {
      const lower = raw[i]!.toLowerCase();
      if (HOP_BY_HOP.has(lower) || extraHop.includes(lower)) continue;
      if (lower === 'set-cookie' && setsOwnCookie(raw[i + 1]!, ctx.config.ownCookies)) continue;
      lines.push(`${raw[i]}: ${raw[i + 1]}`);
    }
    // Streamed, with backpressure, and delimited by the close when the upstream gave no length: a
    // declined upgrade of a large or endless answer must not be held in memory (review: 300 MB
    // answer → +900 MB RSS). The client leaving stops the download.
    lines.push('Connection: close');
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    socket.once('close', () => upstreamReq.destroy());
    (socket as Sock).setTimeout?.(route.idleTimeoutMs);
    socket.once('timeout', () => socket.destroy());
    upstreamRes.pipe(socket);
    upstreamRes.on('end', () => ctx.answered?.(upstreamRes.statusCode ?? 502));
    upstreamRes.on('error', () => socket.destroy());
  });

  upstreamReq.on('error', (err) => {
    clearTimeout(connectTimer);
    clearTimeout(answerTimer);
    if (settled) return;
    settle();
    const kind = classifyUpstreamError(err);
    if (balancer) {
      state!.inFlight--;
      if (!socket.destroyed && CONNECTION_FAILURES.has(kind)) {
        balancer.failed(server);
        const next = retried ? server : balancer.pick(ctx.sessionId, server);
        if (next !== server) {
          ctx.log.warn(
            { err, route: route.id, reqId: ctx.requestId, server: ctx.server, reason: kind },
            'websocket upstream server failed, trying another',
          );
          connect(s, ctx, headers, balancer, next, true);
          return;
        }
      }
    }
    if (s.events.has('upstreamError'))
      s.events.emit('upstreamError', { routeId: route.id, kind, err, server: ctx.server });
    ctx.log.warn(
      { err, route: route.id, reqId: ctx.requestId, server: ctx.server },
      'websocket upstream failed',
    );
    const e = upstreamGatewayError(err);
    rejectUpgrade(socket, e, ctx.requestId);
    ctx.answered?.(e.status);
  });
  upstreamReq.end();
}

type Sock = Duplex & {
  setNoDelay?(v: boolean): void;
  setTimeout?(ms: number): void;
  bytesRead?: number;
  bytesWritten?: number;
};

function tunnel(
  events: EventBus,
  tunnels: Tunnels,
  routeId: string,
  idleMs: number,
  sessionId: string | undefined,
  expiresAt: number,
  grant: TunnelGrant,
  client: Duplex,
  upstream: Duplex,
  /** The server among a route's `upstreams`: the open tunnel counts as a connection to it. */
  state: ServerState | undefined,
): void {
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    if (state) state.inFlight--;
    client.destroy();
    upstream.destroy();
    tunnels.remove(client);
    if (events.has('websocket')) {
      // Byte counts come from the sockets themselves: no per-chunk listener on the hot path.
      events.emit('websocket', {
        routeId,
        open: false,
        bytesIn: (client as Sock).bytesRead ?? 0,
        bytesOut: (client as Sock).bytesWritten ?? 0,
      });
    }
  };
  for (const sock of [client, upstream] as Sock[]) {
    sock.setNoDelay?.(true);
    sock.setTimeout?.(idleMs);
    sock.on('timeout', close);
    sock.on('error', close);
    sock.on('close', close);
  }
  // Two small relays instead of stream.pipe(): pipe hangs a dozen closures on each side, and
  // thousands of idle terminals pay for every one of them.
  relay(client, upstream);
  relay(upstream, client);
  tunnels.add(client, upstream, sessionId, expiresAt, grant);
  if (events.has('websocket')) events.emit('websocket', { routeId, open: true });
}

function relay(from: Duplex, to: Duplex): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) from.pause();
  });
  to.on('drain', () => from.resume());
  from.on('end', () => to.end());
}
