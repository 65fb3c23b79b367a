import { readFileSync, watch, type FSWatcher } from 'node:fs';
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { basename, dirname } from 'node:path';
import type { Duplex } from 'node:stream';
import type { Router } from 'express';
import type { Logger } from 'pino';
import { type Auth, createAuth } from './auth/auth.ts';
import { loginRouter } from './auth/loginRouter.ts';
import { samlMetadataRouter } from './auth/providers/saml.ts';
import { ConfigError, loadConfigFile } from './config/loadConfig.ts';
import type { Config } from './config/types.ts';
import type { HttpContext, Identity, Runtime, UpgradeContext } from './context.ts';
import { createOwnApp } from './endpoints/ownApp.ts';
import { channels } from './ops/channels.ts';
import { createAccessLogger, createLogger } from './ops/logger.ts';
import { HTTP_STAGES, handleStageError, runStages, WS_STAGES } from './pipeline.ts';
import { destroyAgents } from './proxy/agents.ts';
import { openTunnels } from './proxy/forwardUpgrade.ts';
import type { KeyValueStore } from './store/keyValueStore.ts';
import { createMemoryStore } from './store/memoryStore.ts';
import { createRedisStore } from './store/redisStore.ts';

/**
 * A feature beside the core (metrics, notifications, admin, storage, …): it reads the live config
 * through `config()`, listens on `channels`, and may add endpoints under /_portico/ and readiness
 * checks. The core never imports a feature.
 */
export type Feature = {
  name: string;
  /** Mounted under /_portico/ in the order features are given. */
  routers?: Router[];
  /** Contributes `checks[name]` to /_portico/readyz; not ok makes the gateway not ready. */
  readiness?: () => Promise<{ ok: boolean; [detail: string]: unknown }>;
  close?: () => Promise<void>;
};

export type FeatureContext = {
  config: () => Config;
  log: Logger;
  /** Reloads routes.yaml from disk (admin deploys); same result as a file-watch reload. */
  reload: () => ReturnType<Gateway['reload']>;
  configFile: string | undefined;
  /** The environment routes.yaml is interpolated with (admin dry runs use the same). */
  env: NodeJS.ProcessEnv;
  /** The signed-in identity of a request (session cookie), for endpoints like nav.json. */
  identityOf: (req: IncomingMessage) => Promise<Identity | undefined>;
  /** Ends every session of a user on every replica (admin API). */
  revokeSessions: (q: { idp?: string; sub?: string; username?: string }) => Promise<number>;
  /** The signed-in session of a request: id, identity, sign-in time and absolute expiry (epoch ms). Store errors throw. */
  sessionOf: (
    req: IncomingMessage,
  ) => Promise<{ id: string; identity: Identity; createdAt: number; expiresAt: number } | undefined>;
  /** Ends one session (single logout from the OpenID Provider); `channels.sessionEnded` follows. */
  endSession: (id: string) => Promise<void>;
  /** The gateway's key-value store: Redis shared by replicas with `session.store: redis`, else memory. */
  store: KeyValueStore;
};

export type FeatureFactory = (ctx: FeatureContext) => Feature;

export type GatewayOptions = {
  /** Features to start with the gateway, in order. */
  features?: FeatureFactory[];
  /** routes.yaml to load and watch. */
  configFile?: string;
  /** A config loaded by the caller (tests); not watched. */
  config?: Config;
  logger?: Logger;
  /** Watch the file and reload on change (default true when configFile is given). */
  watch?: boolean;
  /** Override listen.port / listen.host (tests use port 0). */
  port?: number;
  host?: string;
  env?: NodeJS.ProcessEnv;
  /** Bind with SO_REUSEPORT (one of several worker processes on the same port). */
  reusePort?: boolean;
};

export type Gateway = {
  readonly server: Server;
  readonly log: Logger;
  config(): Config;
  /** Loads the file again; keeps the last good config on error and reports the problems. */
  reload(): { ok: true; config: Config } | { ok: false; error: ConfigError };
  listen(): Promise<AddressInfo>;
  url(): string;
  close(graceMs?: number): Promise<void>;
};

export function createGateway(options: GatewayOptions): Gateway {
  const env = options.env ?? process.env;
  let current: Config = options.config ?? loadConfigFile(options.configFile!, env);
  const log = options.logger ?? createLogger(current.logging.level);
  const accessLogger = options.logger ?? createAccessLogger(current.logging.level);
  const routers: Router[] = [];

  const auth: Auth = createAuth(current, log);
  const store: KeyValueStore = auth.sessions.redis
    ? createRedisStore(auth.sessions.redis)
    : createMemoryStore({ maxEntries: 100_000 });
  routers.push(loginRouter(auth, () => current));
  routers.push(samlMetadataRouter(() => auth.providers(current)));
  const features: Feature[] = [
    {
      name: 'sessions',
      readiness: async () => {
        const r = await auth.sessions.ready();
        return { ...r };
      },
    },
    {
      name: 'identityProviders',
      readiness: async () => {
        const results: Record<string, string> = {};
        let ok = true;
        await Promise.all(
          [...auth.providers(current).values()].map(async (p) => {
            try {
              await p.ready();
              results[p.id] = 'ok';
            } catch (err) {
              ok = false;
              results[p.id] = ((err as Error).cause as Error | undefined)?.message ?? (err as Error).message;
            }
          }),
        );
        return { ok, ...results };
      },
    },
  ];
  const ownApp = createOwnApp({
    config: () => current,
    routers,
    readiness: async () => {
      const checks: Record<string, unknown> = { config: { ok: true, routes: current.routes.length } };
      let ok = true;
      await Promise.all(
        features.map(async (f) => {
          if (!f.readiness) return;
          try {
            const r = await f.readiness();
            checks[f.name] = r;
            ok &&= r.ok;
          } catch (err) {
            checks[f.name] = { ok: false, error: (err as Error).message };
            ok = false;
          }
        }),
      );
      return { ok, checks };
    },
  });
  const runtime: Runtime = {
    ownEndpoints: ownApp as unknown as (req: IncomingMessage, res: ServerResponse) => void,
    auth,
    accessLogger,
  };

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const ctx: HttpContext = {
      kind: 'http',
      req,
      res,
      config: current,
      runtime,
      log,
      requestId: '',
      path: '/',
      query: '',
      route: undefined,
      clientIp: '',
      proto: 'http',
      identity: undefined,
      session: undefined,
      sessionId: undefined,
      upstreamHeaders: {},
      done: false,
      startedAt: performance.now(),
      transformResponse: undefined,
    };
    try {
      const pending = runStages(HTTP_STAGES, ctx);
      if (pending) pending.catch((err) => handleStageError(ctx, err));
    } catch (err) {
      handleStageError(ctx, err);
    }
  };

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // The socket error handler goes first: a reset before we answer must not crash the process.
    socket.on('error', destroySocket);
    const ctx: UpgradeContext = {
      kind: 'ws',
      req,
      socket,
      head,
      config: current,
      runtime,
      log,
      requestId: '',
      path: '/',
      query: '',
      route: undefined,
      clientIp: '',
      proto: 'http',
      identity: undefined,
      session: undefined,
      sessionId: undefined,
      upstreamHeaders: {},
      done: false,
      startedAt: performance.now(),
    };
    try {
      const pending = runStages(WS_STAGES, ctx);
      if (pending) pending.catch((err) => handleStageError(ctx, err));
    } catch (err) {
      handleStageError(ctx, err);
    }
  };

  const serverOptions = {
    maxHeaderSize: current.limits.maxHeaderSize,
    headersTimeout: current.limits.headersTimeoutMs,
    requestTimeout: current.limits.requestTimeoutMs,
    keepAliveTimeout: 65_000,
    requireHostHeader: true,
    // Node checks the header and request timeouts on this interval (30 s by default), which would
    // let a slowloris client hold a connection far past `limits.headersTimeout`.
    connectionsCheckingInterval: Math.min(
      1000,
      Math.max(100, Math.floor(current.limits.headersTimeoutMs / 4)),
    ),
  };
  const tls = current.listen.tls;
  const server: Server = tls
    ? (createHttpsServer(
        { ...serverOptions, cert: readFileSync(tls.cert), key: readFileSync(tls.key) },
        onRequest,
      ) as unknown as Server)
    : createHttpServer(serverOptions, onRequest);
  server.on('upgrade', onUpgrade);
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    const status =
      err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    socket.end(
      `HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
    );
  });

  const reload: Gateway['reload'] = () => {
    if (!options.configFile) throw new Error('this gateway was not started from a file');
    try {
      const next = loadConfigFile(options.configFile, env);
      if (next.sourceHash === current.sourceHash) return { ok: true, config: current };
      current = next;
      log.info(
        { file: options.configFile, hash: next.sourceHash.slice(0, 12), routes: next.routes.length },
        'config reloaded',
      );
      if (channels.configReload.hasSubscribers)
        channels.configReload.publish({ ok: true, file: options.configFile, hash: next.sourceHash });
      return { ok: true, config: next };
    } catch (err) {
      const error =
        err instanceof ConfigError
          ? err
          : new ConfigError(options.configFile, [{ path: '', message: String(err) }]);
      log.error(
        { file: options.configFile, problems: error.problems },
        'config rejected, the last good config keeps serving',
      );
      if (channels.configReload.hasSubscribers)
        channels.configReload.publish({ ok: false, file: options.configFile, problems: error.problems });
      return { ok: false, error };
    }
  };

  const featureContext: FeatureContext = {
    config: () => current,
    log,
    reload: () => reload(),
    configFile: options.configFile,
    env,
    identityOf: async (req) =>
      (await Promise.resolve(auth.sessions.load(req)).catch(() => undefined))?.data.identity,
    revokeSessions: (q) => auth.sessions.revoke(q),
    sessionOf: async (req) => {
      const loaded = await auth.sessions.load(req);
      const identity = loaded?.data.identity;
      if (!loaded || !identity) return undefined;
      const createdAt = loaded.data.createdAt ?? 0;
      return { id: loaded.id, identity, createdAt, expiresAt: createdAt + auth.sessions.maxAgeMs };
    },
    endSession: (id) => auth.sessions.destroy(id),
    store,
  };
  for (const factory of options.features ?? []) {
    const feature = factory(featureContext);
    features.push(feature);
    routers.push(...(feature.routers ?? []));
  }

  let watcher: FSWatcher | undefined;
  if (options.configFile && options.watch !== false) {
    let timer: NodeJS.Timeout | undefined;
    const file = basename(options.configFile);
    // Watch the folder, not the file: editors and Kubernetes ConfigMaps replace the file (rename).
    watcher = watch(dirname(options.configFile), (_event, name) => {
      if (name && name !== file && !String(name).startsWith('..')) return;
      clearTimeout(timer);
      timer = setTimeout(() => reload(), 150);
    });
    watcher.on('error', (err) => log.warn({ err }, 'config watch failed'));
  }

  return {
    server,
    log,
    config: () => current,
    reload,
    url() {
      const a = server.address() as AddressInfo;
      return `${tls ? 'https' : 'http'}://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
    },
    async listen() {
      await auth.start();
      return new Promise((resolve, reject) => {
        server.once('error', reject);
        // With --workers, every worker binds the port itself (SO_REUSEPORT) and the kernel spreads
        // connections; no primary process sits on the accept path.
        const reusePort = options.reusePort === true;
        server.listen(
          {
            port: options.port ?? current.listen.port,
            host: options.host ?? current.listen.host,
            reusePort,
            exclusive: reusePort,
          },
          () => {
            server.off('error', reject);
            resolve(server.address() as AddressInfo);
          },
        );
      });
    },
    async close(graceMs = 10_000) {
      watcher?.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      for (const socket of openTunnels) goingAway(socket);
      const timer = setTimeout(() => server.closeAllConnections(), graceMs);
      await closed;
      clearTimeout(timer);
      for (const f of features.reverse())
        await f.close?.().catch((err) => log.warn({ err, feature: f.name }, 'feature close failed'));
      await store.close();
      await auth.close();
      destroyAgents();
    },
  };
}

/** Module-level so it keeps nothing of the request alive for the life of a WebSocket. */
function destroySocket(this: Duplex): void {
  this.destroy();
}

/** WebSocket close frame 1001 (going away), unmasked as a server sends it; then the tunnel ends. */
function goingAway(socket: Duplex): void {
  socket.end(Buffer.from([0x88, 0x02, 0x03, 0xe9]));
  setTimeout(() => socket.destroy(), 1000).unref();
}
