// The demo "AI 算力中心" (DCE 5) that Portico serves under `/dce5/` in `npm start`. It behaves as
// DCE does, not as a header-trusting stand-in: users sign in through its own realm (ghippo's
// Keycloak, `auth/realms/ghippo/…`, brokering the identity providers registered in it), its UI
// calls `apis/…` with its own bearer JWT, and an "Istio" check in front of `apis/…` verifies that
// token (or a personal access key) and nothing else. No identity header is read anywhere here.
// Portico strips the prefix, so this server believes it lives at its own root: every link and
// asset in its pages is relative. `/terminal` is an xterm.js web terminal over a WebSocket
// (`terminal/ws`, subprotocol `tty`, cloudtty/ttyd style) talking to a toy shell (shell.ts).
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import {
  cleanHeaderValue,
  closeServer,
  type DemoServer,
  type DemoServerOptions,
  listen,
  methodNotAllowed,
  pathOf,
  redirect,
  sendAsset,
  sendHtml,
  sendText,
  staticAsset,
  type StaticAsset,
} from './common.ts';
import { type AccessKeys, createAccessKeys } from './dce/accessKeys.ts';
import { type Broker, createBroker } from './dce/broker.ts';
import type { IdentityProviderOptions } from './dce/identityProvider.ts';
import { platformApis } from './dce/platformApis.ts';
import { type Principal, requestAuthentication } from './dce/requestAuthentication.ts';
import { createSigningKey } from './dce/signingKey.ts';
import { notFoundPage, type SpaPage, spaPage } from './dce/spaPages.ts';
import { bearerFromSubprotocols } from './dce/terminalCredentials.ts';
import { createShell } from './shell.ts';

export { AI_PRODUCT_NAME } from './dce/spaPages.ts';
export const TERMINAL_PATH = '/terminal/ws';
export const TERMINAL_PROTOCOL = 'tty';

const PING_INTERVAL_MS = 30_000;
const MAX_TERMINALS = 100;
const MAX_MESSAGE_BYTES = 16 * 1024;
/** Input is dropped while this much output is still queued for a slow client. */
const MAX_BUFFERED_BYTES = 256 * 1024;

export type AiPlatformOptions = DemoServerOptions & {
  /** Server ping period for terminal WebSockets (default 30 s). */
  pingIntervalMs?: number;
  /**
   * ghippo's `global.reverseProxy`: where browsers reach the platform's root, e.g.
   * http://localhost:8080/dce5 behind Portico. Default: the server's own URL.
   */
  reverseProxy?: string;
  /** Identity providers registered in the realm (Access Control → Identity Provider → OIDC). */
  identityProviders?: IdentityProviderOptions[];
  /** Lifetime of the realm's access tokens; default 300 s. */
  accessTokenTtlSeconds?: number;
  /** How often the UI checks that its realm session is alive; default 10 s. */
  sessionCheckMs?: number;
  /**
   * Serve HTTPS with this key and certificate, as DCE's ingress does on :30343 (usually with a
   * self-signed certificate, which Portico verifies: a route's `tls.ca`). Default: plain HTTP.
   */
  tls?: { key: string | Buffer; cert: string | Buffer };
};

export type AiPlatform = DemoServer & {
  /** The realm (issuer, URLs, signing key, sessions): for the demo's wiring and for tests. */
  realm: Broker;
  accessKeys: AccessKeys;
};

export async function startAiPlatform(options: AiPlatformOptions = {}): Promise<AiPlatform> {
  const [assets, realmKey, accessKeyKey] = await Promise.all([
    loadAssets(),
    createSigningKey(),
    createSigningKey(),
  ]);
  const server = options.tls ? createTlsServer(options.tls) : createServer();
  server.on('clientError', (_err, socket) => socket.destroy());
  const listening = await listen(server, options);
  const { port } = listening;
  const url = options.tls ? listening.url.replace(/^http:/, 'https:') : listening.url;

  const realm = await createBroker({
    reverseProxy: options.reverseProxy ?? url,
    identityProviders: options.identityProviders,
    accessTokenTtlSeconds: options.accessTokenTtlSeconds,
    key: realmKey,
  });
  const accessKeys = createAccessKeys({ key: accessKeyKey });
  const authenticate = requestAuthentication([
    { issuer: realm.urls.issuer, jwks: realm.key.jwks },
    { issuer: accessKeys.issuer, jwks: accessKeys.key.jwks },
  ]);
  const apis = platformApis({ authenticate, accessKeys, realmIssuer: realm.urls.issuer });
  const ui = {
    clientId: [...realm.clients.keys()][0]!,
    realm: realm.urls.realm,
    sessionCheckMs: options.sessionCheckMs ?? 10_000,
  };

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const path = pathOf(req);
    if (realm.handle(req, res, path) || apis(req, res, path)) return;
    page(req, res, path, assets, ui);
  });

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_MESSAGE_BYTES,
    // Only `tty` is ever chosen: the bearer subprotocol is never echoed back.
    handleProtocols: (protocols) => (protocols.has(TERMINAL_PROTOCOL) ? TERMINAL_PROTOCOL : false),
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const refusal = refuseUpgrade(req, wss.clients.size);
    if (refusal !== null) return void refuse(socket, refusal.status, refusal.reason);
    authenticate(bearerFromSubprotocols(req.headers['sec-websocket-protocol'])).then(
      (verdict) => {
        if (!verdict.ok) return refuse(socket, 401, 'Unauthorized', verdict.reason);
        wss.handleUpgrade(req, socket, head, (ws) => openTerminal(ws, verdict.principal, realm.urls.issuer));
      },
      () => refuse(socket, 500, 'Internal Server Error'),
    );
  });

  const alive = new WeakSet<WebSocket>();
  wss.on('connection', (ws: WebSocket) => {
    alive.add(ws);
    ws.on('pong', () => alive.add(ws));
  });
  const pinger = setInterval(() => {
    for (const ws of wss.clients) {
      if (!alive.has(ws)) {
        ws.terminate();
        continue;
      }
      alive.delete(ws);
      ws.ping();
    }
  }, options.pingIntervalMs ?? PING_INTERVAL_MS);
  pinger.unref();

  return {
    url,
    port,
    realm,
    accessKeys,
    async close() {
      clearInterval(pinger);
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      await closeServer(server);
    },
  };
}

function refuse(socket: Duplex, status: number, reason: string, body = reason): void {
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\n` +
      `Content-Length: ${Buffer.byteLength(body) + 1}\r\n\r\n${body}\n`,
  );
}

function refuseUpgrade(req: IncomingMessage, open: number): { status: number; reason: string } | null {
  if (pathOf(req) !== TERMINAL_PATH) return { status: 404, reason: 'Not Found' };
  const offered = String(req.headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((p) => p.trim());
  if (!offered.includes(TERMINAL_PROTOCOL)) return { status: 400, reason: 'Bad Request' };
  // Cross-site WebSocket hijacking: a browser always sends Origin; it must be this site, as the
  // browser sees it (Host is preserved by default, X-Forwarded-Host covers preserveHost: false).
  const origin = req.headers.origin;
  if (origin !== undefined) {
    let originHost: string;
    try {
      originHost = new URL(origin).host;
    } catch {
      return { status: 403, reason: 'Forbidden' };
    }
    const hosts = [
      req.headers.host,
      cleanHeaderValue(req.headers['x-forwarded-host'])?.split(',')[0]?.trim(),
    ];
    if (!hosts.includes(originHost)) return { status: 403, reason: 'Forbidden' };
  }
  if (open >= MAX_TERMINALS) return { status: 503, reason: 'Service Unavailable' };
  return null;
}

function openTerminal(ws: WebSocket, who: Principal, realmIssuer: string): void {
  const shell = createShell(
    {
      username: who.username,
      email: who.email,
      name: who.name,
      issuer: who.issuer,
      authenticatedBy: who.issuer === realmIssuer ? 'session token' : 'access key',
    },
    {
      write: (data) => {
        if (ws.readyState === ws.OPEN) ws.send(data);
      },
      close: () => ws.close(1000, 'logout'),
    },
  );
  ws.on('error', () => ws.terminate());
  ws.on('message', (data, isBinary) => {
    if (ws.bufferedAmount > MAX_BUFFERED_BYTES) return;
    const text =
      isBinary || typeof data !== 'string' ? Buffer.concat(toBuffers(data)).toString('utf8') : data;
    shell.input(text);
  });
  shell.start();
}

function toBuffers(data: Buffer | ArrayBuffer | Buffer[] | string): Buffer[] {
  if (Array.isArray(data)) return data;
  if (typeof data === 'string') return [Buffer.from(data)];
  return [Buffer.isBuffer(data) ? data : Buffer.from(data)];
}

type Assets = Record<string, StaticAsset>;

async function loadAssets(): Promise<Assets> {
  const require = createRequire(import.meta.url);
  const own = (name: string) => new URL(`./assets/ai/${name}`, import.meta.url);
  const files: [string, URL | string, string][] = [
    ['/static/app.css', own('app.css'), 'text/css; charset=utf-8'],
    ['/static/app.js', own('app.js'), 'text/javascript; charset=utf-8'],
    ['/static/logo.svg', own('logo.svg'), 'image/svg+xml'],
    ['/static/terminal.js', own('terminal.js'), 'text/javascript; charset=utf-8'],
    ['/static/xterm/xterm.js', require.resolve('@xterm/xterm'), 'text/javascript; charset=utf-8'],
    ['/static/xterm/xterm.css', require.resolve('@xterm/xterm/css/xterm.css'), 'text/css; charset=utf-8'],
    ['/static/xterm/addon-fit.js', require.resolve('@xterm/addon-fit'), 'text/javascript; charset=utf-8'],
  ];
  const assets: Assets = {};
  await Promise.all(
    files.map(async ([path, file, type]) => {
      let body = await readFile(file);
      // The source maps are not served; drop the comment so devtools does not ask for them.
      if (type.startsWith('text/javascript')) {
        body = Buffer.from(body.toString('utf8').replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n'));
      }
      assets[path] = staticAsset(body, type);
    }),
  );
  assets['/favicon.ico'] = assets['/static/logo.svg']!;
  return assets;
}

const PAGES: Record<string, SpaPage> = {
  '/': 'dashboard',
  '/index.html': 'dashboard',
  '/terminal': 'terminal',
  '/access-keys': 'access-keys',
};

function page(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  assets: Assets,
  ui: Parameters<typeof spaPage>[1],
) {
  if (req.method !== 'GET' && req.method !== 'HEAD') return methodNotAllowed(req, res);
  const asset = Object.hasOwn(assets, path) ? assets[path] : undefined;
  if (asset !== undefined) return sendAsset(req, res, asset);
  const spa = Object.hasOwn(PAGES, path) ? PAGES[path] : undefined;
  if (spa !== undefined) return sendHtml(req, res, 200, spaPage(spa, ui));
  if (path === '/terminal/') return redirect(res, '../terminal'); // relative: correct under any prefix
  if (path === '/healthz') return sendText(req, res, 200, 'ok\n');
  sendHtml(req, res, 404, notFoundPage(path));
}
