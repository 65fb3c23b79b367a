import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Duplex } from 'node:stream';
import type { UpgradeContext } from '../context.ts';
import { channels } from '../ops/channels.ts';
import { upstreamPath } from '../routing/matchRoute.ts';
import { responseHeaders } from './responseHeaders.ts';
import { rejectUpgrade } from './rejectUpgrade.ts';
import { classifyUpstreamError, UpstreamTimeout, upstreamGatewayError } from './upstreamError.ts';

/** Tunnels that are open now, so a shutdown can close them with 1001 (going away). */
export const openTunnels = new Set<Duplex>();

/**
 * Forwards a WebSocket (or any HTTP/1.1 Upgrade) to the upstream and, once it answers 101, splices
 * the two sockets. Subprotocols (`tty` for cloudtty/ttyd) and extensions pass through untouched;
 * a refusal by the upstream is relayed as it came.
 */
export function forwardUpgrade(ctx: UpgradeContext): void {
  const route = ctx.route!;
  const { req, socket, head } = ctx;
  const headers = ctx.upstreamHeaders;
  headers.connection = 'upgrade';
  headers.upgrade = req.headers.upgrade;
  const upstreamReq = (route.secure ? httpsRequest : httpRequest)({
    protocol: route.upstream.protocol,
    hostname: route.upstream.hostname.replace(/^\[|\]$/g, ''),
    port: route.upstream.port || undefined,
    method: req.method,
    path: upstreamPath(route, ctx.path) + ctx.query,
    headers,
    agent: false,
    ...route.tlsOptions,
  });
  let settled = false;
  const connectTimer = setTimeout(
    () => upstreamReq.destroy(new UpstreamTimeout('connect')),
    route.connectTimeoutMs,
  );
  upstreamReq.setTimeout(route.idleTimeoutMs, () => upstreamReq.destroy(new UpstreamTimeout('idle')));
  const onEarlyClose = () => upstreamReq.destroy();
  socket.once('close', onEarlyClose);

  upstreamReq.on('upgrade', (upstreamRes: IncomingMessage, upstreamSocket: Duplex, upstreamHead: Buffer) => {
    settled = true;
    clearTimeout(connectTimer);
    socket.off('close', onEarlyClose);
    upstreamSocket.on('error', () => socket.destroy());
    if (socket.destroyed) {
      upstreamSocket.destroy();
      return;
    }
    const lines = [`HTTP/1.1 101 ${upstreamRes.statusMessage || 'Switching Protocols'}`];
    const raw = upstreamRes.rawHeaders;
    for (let i = 0; i < raw.length; i += 2) lines.push(`${raw[i]}: ${raw[i + 1]}`);
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    if (upstreamHead.length > 0) socket.write(upstreamHead);
    if (head.length > 0) upstreamSocket.write(head);
    // The tunnel keeps only the two sockets: no request, context or headers stay referenced by an
    // idle WebSocket (thousands of terminals may sit open for hours).
    tunnel(route.id, route.idleTimeoutMs, socket, upstreamSocket);
  });

  upstreamReq.on('response', (upstreamRes: IncomingMessage) => {
    // The upstream declined to upgrade: relay its answer as it is.
    settled = true;
    clearTimeout(connectTimer);
    socket.off('close', onEarlyClose);
    const list = responseHeaders(route, upstreamRes);
    const lines = [`HTTP/1.1 ${upstreamRes.statusCode} ${upstreamRes.statusMessage ?? ''}`];
    for (let i = 0; i < list.length; i += 2) lines.push(`${list[i]}: ${list[i + 1]}`);
    lines.push('Connection: close');
    const chunks: Buffer[] = [];
    upstreamRes.on('data', (c: Buffer) => chunks.push(c));
    upstreamRes.on('end', () => {
      const body = Buffer.concat(chunks);
      if (!lines.some((l) => /^content-length:/i.test(l))) lines.push(`Content-Length: ${body.length}`);
      socket.end(Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`), body]));
    });
    upstreamRes.on('error', () => socket.destroy());
  });

  upstreamReq.on('error', (err) => {
    clearTimeout(connectTimer);
    if (settled) return;
    settled = true;
    if (channels.upstreamError.hasSubscribers) {
      channels.upstreamError.publish({ routeId: route.id, kind: classifyUpstreamError(err), err });
    }
    ctx.log.warn({ err, route: route.id, reqId: ctx.requestId }, 'websocket upstream failed');
    rejectUpgrade(ctx, upstreamGatewayError(err));
  });
  upstreamReq.end();
}

function tunnel(routeId: string, idleMs: number, client: Duplex, upstream: Duplex): void {
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  for (const s of [client, upstream]) {
    (s as Duplex & { setNoDelay?: (v: boolean) => void }).setNoDelay?.(true);
    (s as Duplex & { setTimeout?: (ms: number, cb: () => void) => void }).setTimeout?.(idleMs, close);
    s.on('error', close);
    s.on('close', close);
  }
  client.pipe(upstream);
  upstream.pipe(client);
  openTunnels.add(client);
  if (channels.websocket.hasSubscribers) channels.websocket.publish({ routeId, open: true });
  client.once('close', () => {
    openTunnels.delete(client);
    if (channels.websocket.hasSubscribers) {
      // Byte counts come from the sockets themselves: no per-chunk listener on the hot path.
      channels.websocket.publish({
        routeId,
        open: false,
        bytesIn: (client as Duplex & { bytesRead?: number }).bytesRead ?? 0,
        bytesOut: (client as Duplex & { bytesWritten?: number }).bytesWritten ?? 0,
      });
    }
  });
}
