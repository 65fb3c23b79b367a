import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2Session } from 'node:http2';
import type { Server, Socket } from 'node:net';
import { pemOrFile } from '../config/pemOrFile.ts';
import type { Config } from '../config/types.ts';
import { createServer as createHttpServer } from '../nodeHttp.ts';
import { http2ResponseClass } from './http2Response.ts';

/** What the gateway's one listener is, whichever protocol it speaks. */
export type Listener = {
  readonly server: Server;
  readonly secure: boolean;
  /** Drops connections with nothing in flight (closing: HTTP/1.1 keep-alive, idle HTTP/2 sessions). */
  closeIdleConnections(): void;
  /** Cuts every connection left (closing, once the grace period is over). */
  closeAllConnections(): void;
};

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * The main listener: plain HTTP, or TLS with ALPN offering `h2` and `http/1.1` (node:http2 with
 * `allowHTTP1`, so HTTP/1.1 clients and WebSocket upgrades share the port), or TLS with HTTP/1.1
 * only (`listen.tls.http2: false`). HTTP/2 requests reach the same handler through Node's
 * compatibility objects, which have what the pipeline reads and writes of a request and an answer
 * (http2Response.ts takes out what HTTP/1.1 code writes that HTTP/2 refuses).
 */
export function createListener(
  config: Config,
  handler: Handler,
  options: { keepAliveTimeoutMs?: number } = {},
): Listener {
  const limits = config.limits;
  // How long a connection with nothing in flight stays open (HTTP/1.1 keep-alive, HTTP/2 sessions).
  const keepAliveTimeout = options.keepAliveTimeoutMs ?? 65_000;
  const http1 = {
    maxHeaderSize: limits.maxHeaderSize,
    headersTimeout: limits.headersTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    keepAliveTimeout,
    requireHostHeader: true,
    // Node checks the header and request timeouts on this interval (30 s by default), which would
    // let a slowloris client hold a connection far past `limits.headersTimeout`.
    connectionsCheckingInterval: Math.min(1000, Math.max(100, Math.floor(limits.headersTimeoutMs / 4))),
  };
  const tls = config.listen.tls;
  if (!tls) {
    const server = createHttpServer(http1, handler);
    return {
      server,
      secure: false,
      closeIdleConnections: () => server.closeIdleConnections(),
      closeAllConnections: () => server.closeAllConnections(),
    };
  }
  const credentials = {
    cert: pemOrFile(config.baseDir, tls.cert),
    key: pemOrFile(config.baseDir, tls.key),
    // The TLS handshake is part of getting the request's headers in (Node waits 120 s by default;
    // nginx's ssl_handshake_timeout is 60 s): a connection that never starts it is cut off then.
    handshakeTimeout: limits.headersTimeoutMs,
  };
  // node:https and node:http2 are asked for only by a listener that speaks them (getBuiltinModule,
  // as nodeHttp.ts does for node:http, rather than an import of their ES facades).
  if (!tls.http2) {
    const server = process
      .getBuiltinModule('node:https')
      .createServer({ ...http1, ...credentials, ALPNProtocols: ['http/1.1'] }, handler);
    const sockets = trackConnections(server);
    return {
      server,
      secure: true,
      closeIdleConnections: () => server.closeIdleConnections(),
      // Node's own list holds only connections that reached HTTP: not one still in its handshake.
      closeAllConnections: () => {
        server.closeAllConnections();
        for (const socket of sockets) socket.destroy();
      },
    };
  }
  const http2 = process.getBuiltinModule('node:http2');
  const server = http2.createSecureServer(
    {
      ...credentials,
      allowHTTP1: true,
      Http2ServerResponse: http2ResponseClass(http2.Http2ServerResponse),
      settings: {
        // The header limit, as HTTP/2 counts it (names, values and 32 bytes per field).
        maxHeaderListSize: limits.maxHeaderSize,
        // Node allows 2^32 - 1 streams at once on one connection; nginx's http2_max_concurrent_streams is 128.
        maxConcurrentStreams: 128,
      },
    },
    // The compatibility objects stand in for IncomingMessage/ServerResponse (see above).
    handler as unknown as Parameters<typeof http2.createSecureServer>[1],
  );
  // The HTTP/1.1 side of the port reads its limits from the server object, as http.Server does;
  // the interval must be set before `listen`, which starts it.
  Object.assign(server, http1);
  const sockets = trackConnections(server);
  const sessions = new Set<Http2Session>();
  server.on('session', (session: Http2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
    closeWhenIdle(session, http1.keepAliveTimeout);
  });
  return {
    server,
    secure: true,
    // server.close() already ends idle HTTP/1.1 connections and sends every HTTP/2 session a GOAWAY
    // (streams in flight finish).
    closeIdleConnections: () => {
      for (const session of sessions) session.close();
    },
    closeAllConnections: () => {
      for (const socket of sockets) socket.destroy();
    },
  };
}

/**
 * Every TCP connection of a TLS server, from its accept: one that never finishes its handshake
 * holds a descriptor too, and a shutdown must be able to end it.
 */
function trackConnections(server: Server): Set<Socket> {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  return sockets;
}

/**
 * An HTTP/2 connection with no stream open for `ms` is closed, as an idle HTTP/1.1 keep-alive
 * connection is: a client that opens sessions and leaves them would otherwise hold them forever.
 * A quiet stream (a long poll, an event stream) keeps its session.
 */
function closeWhenIdle(session: Http2Session, ms: number): void {
  let open = 0;
  session.on('stream', (stream) => {
    open++;
    stream.once('close', () => open--);
  });
  session.setTimeout(ms, () => {
    if (open !== 0) return;
    session.close();
    // close() sends GOAWAY and waits for the client: one that stopped half-way through a request's
    // header block (HEADERS without END_HEADERS, no stream yet) held the connection for good.
    const timer = setTimeout(() => session.destroy(), Math.min(ms, 5_000)).unref();
    session.once('close', () => clearTimeout(timer));
  });
}
