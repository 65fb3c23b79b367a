import { EventEmitter, once } from 'node:events';
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';
import { WebSocketServer } from 'ws';

export type RecordedRequest = {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  /** The client side's port: the same port on two requests means one keep-alive connection. */
  remotePort: number | undefined;
};

export type Upstream = {
  url: string;
  port: number;
  server: Server;
  requests: RecordedRequest[];
  last(): RecordedRequest;
  /**
   * True once `count` requests (upgrades included) have been recorded, false when `timeoutMs`
   * passed first: an upgrade is recorded when the WebSocket server accepts it, a moment after the 101.
   */
  waitForRequests(count: number, timeoutMs?: number): Promise<boolean>;
  close(): Promise<void>;
};

export type UpstreamOptions = {
  /** Answers after the body is read; default echoes the request as JSON. */
  handler?: (req: IncomingMessage, res: ServerResponse, recorded: RecordedRequest) => void;
  /** Stream the request instead of buffering (for big uploads, SSE). Handler reads req itself. */
  streaming?: boolean;
  /** Accept WebSocket upgrades and echo messages (with the chosen subprotocol). */
  websocket?: boolean;
};

/** A real HTTP (and WebSocket) server on port 0 that records what it receives. */
export async function startUpstream(options: UpstreamOptions = {}): Promise<Upstream> {
  const requests: RecordedRequest[] = [];
  const arrivals = new EventEmitter();
  // Concurrent tests of one upstream each wait here (pathTricks probes dozens at once); each waiter leaves when done.
  arrivals.setMaxListeners(0);
  const record = (r: RecordedRequest) => {
    requests.push(r);
    arrivals.emit('request');
  };
  const server = createServer((req, res) => {
    const recorded: RecordedRequest = {
      method: req.method!,
      url: req.url!,
      headers: req.headers,
      rawHeaders: req.rawHeaders,
      body: Buffer.alloc(0),
      remotePort: req.socket.remotePort,
    };
    record(recorded);
    if (options.streaming && options.handler) {
      options.handler(req, res, recorded);
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      recorded.body = Buffer.concat(chunks);
      if (options.handler) options.handler(req, res, recorded);
      else {
        res.setHeader('content-type', 'application/json');
        res.end(
          JSON.stringify({
            method: recorded.method,
            url: recorded.url,
            headers: recorded.headers,
            body: recorded.body.toString(),
          }),
        );
      }
    });
  });
  if (options.websocket) {
    const wss = new WebSocketServer({
      server,
      handleProtocols: (protocols) =>
        protocols.has('tty') ? 'tty' : (protocols.values().next().value ?? false),
    });
    wss.on('connection', (ws, req) => {
      record({
        method: 'UPGRADE',
        url: req.url!,
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body: Buffer.alloc(0),
        remotePort: req.socket.remotePort,
      });
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    });
  }
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    server,
    requests,
    last: () => requests[requests.length - 1]!,
    waitForRequests: (count, timeoutMs = 2000) =>
      new Promise<boolean>((resolve) => {
        const finish = (reached: boolean) => {
          clearTimeout(timer);
          arrivals.off('request', check);
          resolve(reached);
        };
        const check = () => {
          if (requests.length >= count) finish(true);
        };
        const timer = setTimeout(() => finish(false), timeoutMs).unref();
        arrivals.on('request', check);
        check();
      }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** An upstream (see startUpstream) that is closed when the test `t` ends. */
export async function upstreamFor(
  t: Pick<TestContext, 'after'>,
  options: UpstreamOptions = {},
): Promise<Upstream> {
  const upstream = await startUpstream(options);
  t.after(() => upstream.close());
  return upstream;
}

/** An upstream answering every request with a 302 to the Location `redirectTo` last set. */
export async function redirectingUpstream(
  t: Pick<TestContext, 'after'>,
): Promise<Upstream & { redirectTo(location: string): void }> {
  let location = '';
  const upstream = await upstreamFor(t, {
    handler: (_req, res) => {
      res.writeHead(302, { location });
      res.end();
    },
  });
  return Object.assign(upstream, {
    redirectTo: (next: string) => {
      location = next;
    },
  });
}
