import { createHash } from 'node:crypto';
import { type FSWatcher, readFileSync, statSync, watch } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Server as NetServer } from 'node:net';
import { basename, dirname } from 'node:path';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { createProviderRegistry } from './auth/providers/registry.ts';
import { createLoginTransactions } from './auth/session/loginTransactions.ts';
import { createSessions, type RevokeQuery } from './auth/session/sessions.ts';
import { compileConfig } from './config/compile.ts';
import { configFileKindProblem } from './config/configFileKind.ts';
import { ConfigError, loadConfigFile } from './config/loadConfig.ts';
import { restartNeeded, withRunningValues } from './config/reloadPolicy.ts';
import { semanticProblems } from './config/semantics.ts';
import type { StoredSession } from './auth/session/sessionData.ts';
import type { Config } from './config/types.ts';
import type { HttpContext, Identity, UpgradeContext } from './context.ts';
import { createOwnApp } from './endpoints/ownApp.ts';
import type { OwnRouter } from './endpoints/ownEndpoints.ts';
import { routerOnFirstRequest } from './endpoints/routerOnFirstRequest.ts';
import { toGatewayError } from './errors.ts';
import { createEventBus, type EventBus } from './events.ts';
import { createAssertions } from './identity/assertion.ts';
import { createKeyStore } from './identity/signingKeys.ts';
import { namesTakenSince } from './identity/qualifyIdentity.ts';
import { parseDuration } from './config/duration.ts';
import { createListener } from './listener/createListener.ts';
import { createErrorReporter } from './observe/errorReporter.ts';
import { accessLogThrough, createAccessLog } from './observe/accessLogWriter.ts';
import { createLogger } from './observe/logger.ts';
import { rejectUpgrade, respondError } from './pages/errorResponse.ts';
import { refuseMalformedCheck } from './forwardAuth/refuseMalformedCheck.ts';
import { createPages } from './pages/pages.ts';
import { buildPipeline, type FeatureStages, runStages } from './pipeline.ts';
import { tunnelStillAllowed } from './proxy/tunnelStillAllowed.ts';
import {
  bareRulesWithoutPrimary,
  emailRulesNoOnePasses,
  opaqueTokensNoOneChecks,
  openMetricsOnPublicListener,
  secureCookieOverHttp,
} from './config/configWarnings.ts';
import { createTunnels } from './proxy/tunnels.ts';
import { createUpstreamPool } from './proxy/upstreamPool.ts';
import { createMaintenanceSwitch } from './routePolicy/maintenanceSwitch.ts';
import type { Services } from './services.ts';
import { type GatewayStores, memoryStores } from './store/memoryStores.ts';
import { createRedisClient, waitForRedis } from './store/redisClient.ts';
import { plaintextDirectories } from './config/plaintextDirectories.ts';
import { createRedisStore } from './store/redisStore.ts';

/**
 * A feature beside the core (metrics, notifications, admin, storage, branding, the OpenID
 * Provider…): it reads the live config through `config()`, listens on `events`, and may add
 * endpoints under /_portico/, stages in the pipeline's slots and readiness checks. The core
 * never imports a feature.
 */
export type Feature = {
  name: string;
  /** Mounted under /_portico/. */
  routers?: OwnRouter[];
  /** Stages for the pipeline's slots (see pipeline.ts). */
  stages?: FeatureStages;
  /** Contributes `checks[name]` to /_portico/readyz; not ok makes the gateway not ready. */
  readiness?: () => Promise<{ ok: boolean; [detail: string]: unknown }>;
  close?: () => Promise<void>;
  /** What the feature offers others (and tests), read through `gateway.feature(name)`. */
  exports?: unknown;
};

export type FeatureContext = {
  config: () => Config;
  log: Logger;
  events: EventBus;
  /** The gateway's services features may use (its own, never another gateway's). */
  services: Pick<
    Services,
    | 'sessions'
    | 'store'
    | 'oidcStore'
    | 'pages'
    | 'errors'
    | 'upstreams'
    | 'providers'
    | 'keys'
    | 'maintenance'
  >;
  /** Reloads routes.yaml from disk (admin deploys); same result as a file-watch reload. */
  reload: () => ReloadResult;
  configFile: string | undefined;
  /** The environment routes.yaml is interpolated with (admin dry runs use the same). */
  env: NodeJS.ProcessEnv;
  /** The signed-in identity of a request (session cookie), for endpoints like nav.json. */
  identityOf: (req: IncomingMessage) => Promise<Identity | undefined>;
  /** The signed-in session of a request: id, identity, sign-in time and absolute expiry (epoch ms). Store errors throw. */
  sessionOf: (
    req: IncomingMessage,
  ) => Promise<{ id: string; identity: Identity; createdAt: number; expiresAt: number } | undefined>;
  /** Ends one session on every replica (single logout from the OpenID Provider). */
  endSession: (id: string, reason: string) => Promise<void>;
  /** Ends every session of a user on every replica (admin API). */
  revokeSessions: (q: RevokeQuery) => Promise<number>;
};

export type FeatureFactory = (ctx: FeatureContext) => Feature;

export type ReloadResult =
  | { ok: true; config: Config; restartNeeded: string[] }
  | { ok: false; error: ConfigError };

export type GatewayOptions = {
  /** Features to start with the gateway. */
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
  /** The listener: http.Server, https.Server, or (TLS with HTTP/2) an Http2SecureServer. */
  readonly server: NetServer;
  readonly log: Logger;
  /** This gateway's events (features listen here; tests may publish). */
  readonly events: EventBus;
  /** A started feature by name. */
  feature(name: string): Feature | undefined;
  config(): Config;
  /** Loads the file again; keeps the last good config on error and reports the problems. */
  reload(): ReloadResult;
  listen(): Promise<AddressInfo>;
  url(): string;
  close(graceMs?: number): Promise<void>;
};

/**
 * The one owner of a gateway's state: it builds the services (store, sessions, keys, providers,
 * upstream connections, tunnels, brand, event bus, error reporting), the features, and the
 * pipeline from pipeline.ts, and hands each stage what it uses. Nothing is shared with another
 * gateway in the same process.
 */
export function createGateway(options: GatewayOptions): Gateway {
  const env = options.env ?? process.env;
  let current: Config = options.config ?? loadConfigFile(options.configFile!, env);
  /** What a valid config is warned about, at start and at every reload (config/configWarnings.ts). */
  const warnAbout = (c: Config) => {
    if (openMetricsOnPublicListener(c))
      log.warn(
        'metrics are open on the public listener: set metrics.token, or metrics.listen for a listener of their own',
      );
    if (secureCookieOverHttp(c))
      log.warn(
        `session.cookieName ${c.session.cookieName} is always set Secure, and browsers keep no Secure cookie from the http publicUrl: no sign-in would stick (use an https publicUrl or a name without the prefix)`,
      );
    const named: [string, string[], string][] = [
      [
        'identityProviders',
        plaintextDirectories(c),
        'LDAP without TLS: passwords cross the network in clear text (use ldaps:// or startTls: true)',
      ],
      [
        'rules',
        emailRulesNoOnePasses(c),
        'emails/domains rules about LDAP or SAML users admit none of them: those providers never say an address is verified (set trustEmail: true on a directory whose users cannot edit their own address)',
      ],
      [
        'routes',
        opaqueTokensNoOneChecks(c),
        "bearer: verify routes that refuse every opaque access token: several identity providers check tokens and none is primary; an opaque token is given to one provider only (set identity.primaryProvider or the route's bearerProviders)",
      ],
      [
        'rules',
        bareRulesWithoutPrimary(c),
        'allow rules with bare names but no primary identity provider: every user is <idp>:<name>, so they admit only API keys (write <idp>:… or set identity.primaryProvider)',
      ],
    ];
    for (const [key, which, message] of named) if (which.length > 0) log.warn({ [key]: which }, message);
  };
  const format = current.raw.logging?.format;
  const log = options.logger ?? createLogger(current.logging.level, format);
  warnAbout(current);
  const accessLog = options.logger
    ? accessLogThrough(options.logger)
    : createAccessLog(current.logging.level, format, current.logging.accessLogFlushMs);
  const events = createEventBus(log);

  // Storage: Redis shared by replicas, or memory kept in separate stores, so that sign-ins in
  // flight (anyone can start one) can never push a signed-in user's session out.
  const redis =
    current.session.store === 'redis' && current.session.redis
      ? createRedisClient(current.session.redis, current.baseDir, log)
      : undefined;
  let stores: GatewayStores;
  if (redis) {
    const shared = createRedisStore(redis, { prefix: current.session.redis?.keyPrefix ?? 'portico:' });
    stores = {
      store: shared,
      sessionStore: shared,
      loginStore: shared,
      throttleStore: shared,
      oidcStore: shared,
    };
  } else stores = memoryStores(current.session.maxEntries);
  const { store, sessionStore, loginStore } = stores;

  const keyConfig = current.raw.identity?.jwt?.keys;
  const keys = createKeyStore(
    {
      store,
      file:
        keyConfig?.store === 'file' || (!keyConfig?.store && !redis && keyConfig?.file)
          ? keyConfig?.file
          : undefined,
      rotateEveryMs: parseDuration(keyConfig?.rotateEvery ?? '24h'),
      publishAheadMs: 5 * 60_000,
      retainMs: 60 * 60_000,
    },
    log,
  );
  const routers: OwnRouter[] = [];
  const features: Feature[] = [];
  const openTunnels = createTunnels();
  const verdicts = new WeakMap<StoredSession, { config: Config; verdict: 'accept' | 'refuse' | 'end' }>();
  const services: Services = {
    config: () => current,
    log,
    accessLog,
    events,
    store,
    oidcStore: stores.oidcStore,
    sessions: createSessions({
      settings: current.session,
      store: sessionStore,
      events,
      log,
      // A reload that removes a session's identity provider, points it at another IdP (issuer,
      // server, directory), changes the primary one (whose users keep bare names), or adds a
      // provider whose `<id>:` a primary user's name or group starts with, ends the sessions it
      // changed the meaning of.
      judge: (data) => {
        // Asked for every request of a signed-in user: the verdict is kept per session object
        // (the cache hands out the same one) and config, as a user may carry hundreds of groups.
        const memo = verdicts.get(data);
        if (memo?.config === current) return memo.verdict;
        let verdict: 'accept' | 'end' | 'refuse';
        if (
          current.identityProviderIds.has(data.identity.idp) &&
          (data.namedUnder === undefined || data.namedUnder === (current.primaryIdp ?? '')) &&
          (data.source === undefined ||
            data.source === current.identityProviderSources.get(data.identity.idp)) &&
          !namesTakenSince(data.identity, current.primaryIdp, current.identityProviderIds)
        )
          verdict = 'accept';
        // Made before this config was loaded: the change outdated it. Made after: under a config
        // another replica (or worker) has and this one has not yet; ending it would sign the user
        // out everywhere in the middle of a rolling change.
        else verdict = data.createdAt < current.loadedAt.getTime() ? 'end' : 'refuse';
        verdicts.set(data, { config: current, verdict });
        return verdict;
      },
    }),
    logins: createLoginTransactions(loginStore),
    keys,
    assertions: createAssertions(keys),
    providers: createProviderRegistry(store, stores.throttleStore),
    upstreams: createUpstreamPool(() => current.baseDir),
    tunnels: openTunnels,
    pages: createPages(),
    errors: createErrorReporter(),
    // A route the admin API puts under maintenance answers 503, on every replica: its open
    // terminals end there too (a reload does the same through tunnelStillAllowed).
    maintenance: createMaintenanceSwitch(store, log, (active) =>
      openTunnels.recheck((grant) => !active.has(grant.routeId)),
    ),
  };
  const { sessions, tunnels, pages } = services;
  // A session that ends, here or on another replica, takes its open terminals with it.
  events.on('sessionEnded', (e) => {
    tunnels.closeSession(e.sessionId);
  });
  // Announcements published while this replica was cut off from Redis were missed: once it hears
  // them again, it looks up the sessions its terminals belong to and closes those that ended.
  // The subscriber's connection can be ready before the one that reads: a lookup that fails is
  // asked again (every second, then every five) for as long as that session has terminals here;
  // giving up would leave a terminal open for good on a session that may have ended.
  const recheckTunnel = (id: string, attempt: number) =>
    sessions.held(id).then(
      (held) => {
        if (!held) tunnels.closeSession(id);
      },
      () => {
        const retry = () => tunnels.hasSession(id) && recheckTunnel(id, attempt + 1);
        setTimeout(retry, attempt < 10 ? 1000 : 5000).unref();
      },
    );
  sessionStore.onResubscribed(() => {
    const ids = tunnels.sessionIds();
    log.info(
      { sessions: ids.length },
      'redis subscriptions restored; looking up the sessions of open terminals',
    );
    for (const id of ids) void recheckTunnel(id, 1);
  });
  // A session the store lost without anyone announcing it (FLUSHALL, a Redis that restarted with
  // nothing kept while this replica's connection held, eviction, a key deleted by hand) is refused
  // by the next request, but a terminal makes none: its session is looked for now and then. A
  // lookup that fails leaves the terminal as it is; the next sweep asks again.
  let sweeping = false;
  const terminalSweep = setInterval(() => {
    if (sweeping) return;
    const ids = tunnels.sessionIds();
    if (ids.length === 0) return;
    sweeping = true;
    void Promise.all(
      ids.map((id) =>
        sessions.held(id).then(
          (held) => held || tunnels.closeSession(id),
          () => {},
        ),
      ),
    ).finally(() => {
      sweeping = false;
    });
  }, current.session.terminalCheckMs);
  terminalSweep.unref();

  // The sign-in endpoints' code is loaded by their first request.
  routers.push(
    routerOnFirstRequest(async () =>
      (await import('./auth/loginRouter.ts')).loginRouter(services, async () => {
        await keys.start();
        return keys.jwks();
      }),
    ),
  );
  routers.push(
    routerOnFirstRequest(async () =>
      (await import('./auth/providers/saml/metadataRouter.ts')).samlMetadataRouter(services),
    ),
  );
  /** Identity providers found not ready at the last readiness probe. */
  const idpDown = new Set<string>();
  features.push(
    { name: 'sessions', readiness: async () => sessions.ready() },
    {
      name: 'identityProviders',
      readiness: async () => {
        const results: Record<string, string> = {};
        let ok = true;
        await Promise.all(
          [...services.providers.providers(current).values()].map(async (p) => {
            try {
              await p.ready();
              results[p.id] = 'ok';
              if (idpDown.delete(p.id)) log.info({ idp: p.id }, 'identity provider ready again');
            } catch (err) {
              ok = false;
              // /_portico/readyz is public: a fixed word here, the IdP's address and error in the
              // log (a warning when it goes down, not at every probe).
              results[p.id] = 'unreachable';
              const why = ((err as Error).cause as Error | undefined)?.message ?? (err as Error).message;
              if (!idpDown.has(p.id)) log.warn({ idp: p.id, err: why }, 'identity provider not ready');
              idpDown.add(p.id);
            }
          }),
        );
        return { ok, ...results };
      },
    },
  );
  const ownApp = createOwnApp({
    config: () => current,
    routers,
    pages,
    readiness: async () => {
      const checks: Record<string, unknown> = {
        config: {
          ok: true,
          routes: current.routes.length,
          ...(pendingRestart.length > 0 ? { restartNeeded: pendingRestart } : {}),
        },
      };
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

  let pendingRestart: string[] = [];
  let lastRejected: string | undefined;
  const reload = (): ReloadResult => {
    if (!options.configFile) throw new Error('this gateway was not started from a file');
    const file = options.configFile;
    try {
      const loaded = loadConfigFile(file, env);
      if (loaded.sourceHash === current.sourceHash) {
        if (lastRejected !== undefined) recovered(loaded);
        return { ok: true, config: current, restartNeeded: pendingRestart };
      }
      const changed = restartNeeded(current.raw, loaded.raw);
      let next = loaded;
      if (changed.length > 0) {
        // The new file with the running values of what only a restart applies: checked as a whole.
        const effective = withRunningValues(current.raw, loaded.raw);
        const problems = semanticProblems(effective, loaded.baseDir);
        if (problems.length > 0)
          throw new ConfigError(
            file,
            problems.map((p) => ({
              path: p.path.join('.'),
              message: `${p.message} (with the running ${changed.join(', ')}: ${changed.length === 1 ? 'it needs' : 'they need'} a restart)`,
            })),
          );
        next = compileConfig(effective, loaded.source, loaded.file, loaded.baseDir);
        log.warn(
          { file, keys: changed },
          `config reloaded, but ${changed.join(', ')} only change with a restart`,
        );
      }
      const before = current;
      current = next;
      pendingRestart = changed;
      services.upstreams.retain(next);
      // Sessions the change outdated end at their next request; open terminals make none, so
      // theirs are looked up now (ended ones close).
      if (providersChanged(before, next)) for (const id of tunnels.sessionIds()) void recheckTunnel(id, 1);
      // Terminals the new rules no longer admit (an API key removed, `allow` narrowed, the route
      // gone) close now: they make no request that would be judged again.
      const closed = tunnels.recheck((grant) => tunnelStillAllowed(next, grant));
      if (closed > 0) log.info({ closed }, 'WebSockets the new config no longer admits were closed');
      log.level = next.logging.level;
      warnAbout(next);
      const wasRejected = lastRejected !== undefined;
      lastRejected = undefined;
      log.info(
        {
          file,
          hash: next.sourceHash.slice(0, 12),
          routes: next.routes.length,
          recovered: wasRejected || undefined,
        },
        wasRejected ? 'config reloaded; the rejected version is replaced' : 'config reloaded',
      );
      events.emit('configReload', {
        ok: true,
        file,
        hash: next.sourceHash,
        restartNeeded: changed,
        recovered: wasRejected,
      });
      return { ok: true, config: next, restartNeeded: changed };
    } catch (err) {
      const error =
        err instanceof ConfigError ? err : new ConfigError(file, [{ path: '', message: String(err) }]);
      lastRejected = error.message;
      log.error({ file, problems: error.problems }, 'config rejected, the last good config keeps serving');
      events.emit('configReload', { ok: false, file, problems: error.problems });
      return { ok: false, error };
    }
  };
  /** The file is back to the running version after a rejected edit: say so, or the error stays the last word. */
  const recovered = (loaded: Config) => {
    lastRejected = undefined;
    log.info(
      { file: options.configFile, hash: loaded.sourceHash.slice(0, 12) },
      'config file is valid again; nothing changed',
    );
    events.emit('configReload', {
      ok: true,
      file: options.configFile,
      hash: loaded.sourceHash,
      recovered: true,
    });
  };

  const sessionOf = async (req: IncomingMessage) => {
    const loaded = await sessions.load(req);
    if (!loaded) return undefined;
    const { identity, createdAt } = loaded.data;
    return { id: loaded.id, identity, createdAt, expiresAt: createdAt + sessions.maxAgeMs };
  };
  const featureContext: FeatureContext = {
    config: () => current,
    log,
    events,
    services,
    reload: () => reload(),
    configFile: options.configFile,
    env,
    identityOf: async (req) => (await sessionOf(req).catch(() => undefined))?.identity,
    sessionOf,
    endSession: (id, reason) => sessions.end(id, reason),
    revokeSessions: (q) => sessions.revoke(q),
  };
  const extraStages: Required<FeatureStages> = { beforeForward: [], response: [] };
  for (const factory of options.features ?? []) {
    const feature = factory(featureContext);
    features.push(feature);
    routers.push(...(feature.routers ?? []));
    extraStages.beforeForward.push(...(feature.stages?.beforeForward ?? []));
    extraStages.response.push(...(feature.stages?.response ?? []));
  }

  const pipeline = buildPipeline({ ...services, ownApp }, extraStages);

  // While the store is down every request that needs it is a 503: the store's client says the
  // outage once, and these answers are counted into one line every 30 s instead of one each.
  let unavailableSaidAt = Number.NEGATIVE_INFINITY;
  let unavailableSince = 0;
  const answerError = (ctx: HttpContext | UpgradeContext, err: unknown): void => {
    const e = toGatewayError(err);
    if (e.code === 'PORTICO_ERR_UNAVAILABLE') {
      unavailableSince++;
      if (performance.now() - unavailableSaidAt >= 30_000) {
        unavailableSaidAt = performance.now();
        log.error(
          { err: e.cause ?? e, reqId: ctx.requestId, route: ctx.route?.id, answered: unavailableSince },
          'PORTICO_ERR_UNAVAILABLE: requests that need the store are answered 503 (counted, said at most every 30 s)',
        );
        unavailableSince = 0;
      }
    } else if (e.status >= 500)
      log.error({ err: e.cause ?? e, reqId: ctx.requestId, route: ctx.route?.id }, e.code);
    else log.debug({ code: e.code, reqId: ctx.requestId }, 'request refused');
    if (!ctx.requestId) ctx.requestId = 'unknown';
    if (e.code === 'PORTICO_ERR_INTERNAL')
      services.errors.report(e.cause ?? e, {
        requestId: ctx.requestId,
        routeId: ctx.route?.id,
        req: ctx.req,
      });
    if (ctx.kind === 'http') {
      if (refuseMalformedCheck(ctx, e, pages)) return;
      const providerName =
        e.status === 403 && ctx.identity
          ? services.providers.providers(ctx.config).get(ctx.identity.idp)?.displayName('en-US')
          : undefined;
      respondError(ctx.req, ctx.res, e, ctx.requestId, pages, { identity: ctx.identity, providerName });
    } else {
      rejectUpgrade(ctx.socket, e, ctx.requestId);
      ctx.answered?.(e.status);
    }
  };

  // Each context is written out in full rather than spread from nothingKnownYet(): one literal of a
  // fixed shape per request, no second object to build and copy on the hot path.
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    // Pipelined behind an answer that ends the connection (a framing refusal's 501): Node parsed
    // it, but it is never answered; run, it would act on the upstream for a client that cannot
    // see the result.
    if (req.socket.writableEnded) {
      req.resume();
      return;
    }
    const ctx: HttpContext = {
      kind: 'http',
      req,
      res,
      config: current,
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
      credential: undefined,
      upstreamHeaders: {},
      server: undefined,
      done: false,
      startedAt: performance.now(),
      transform: undefined,
      requestBody: undefined,
    };
    try {
      const pending = runStages(pipeline.http, ctx);
      if (pending) pending.catch((err) => answerError(ctx, err));
    } catch (err) {
      answerError(ctx, err);
    }
  };

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // The socket error handler goes first: a reset before we answer must not crash the process.
    socket.on('error', destroySocket);
    // Pipelined behind a request still being answered: that answer would be written after the
    // 101, into the tunnel. Not taken: the connection closes once the earlier answer is written.
    const answering = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (answering && !answering.writableFinished) {
      answering.once('close', () => socket.end());
      return;
    }
    const ctx: UpgradeContext = {
      kind: 'ws',
      req,
      socket,
      head,
      config: current,
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
      credential: undefined,
      upstreamHeaders: {},
      server: undefined,
      done: false,
      startedAt: performance.now(),
      answered: undefined,
    };
    try {
      const pending = runStages(pipeline.ws, ctx);
      if (pending) pending.catch((err) => answerError(ctx, err));
    } catch (err) {
      answerError(ctx, err);
    }
  };

  const listener = createListener(current, onRequest);
  const server = listener.server;
  server.on('upgrade', onUpgrade);
  // No automatic 100 Continue: the stage that reads the body sends it (proxy/sendContinue.ts), so
  // a refusal (a login needed, a body over the limit) reaches the client before its upload does.
  server.on('checkContinue', onRequest);
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    if (!socket.writable) {
      socket.destroy();
      return;
    }
    // Bytes after a request that is being answered: a 400 written now would land inside that
    // answer (Node's own handler checks the same). An answer already complete is sent, then closed.
    const answering = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
    // Bytes after a request that asked to close the connection: its answer is still to come, and
    // nothing after it is read.
    if (err.code === 'HPE_CLOSED_CONNECTION' && answering && !answering.writableEnded) return;
    if (answering?.headersSent) {
      if (answering.writableEnded) endThenDestroy(socket, undefined, 30_000);
      else socket.destroy();
      return;
    }
    const status =
      err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
    endThenDestroy(
      socket,
      `HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`,
      1000,
    );
  });

  let watcher: FSWatcher | undefined;
  if (options.configFile && options.watch !== false) {
    let timer: NodeJS.Timeout | undefined;
    const path = options.configFile;
    const file = basename(path);
    // A file rewritten in place (scp, an editor without atomic save) is seen mid-write: a pause
    // longer than the debounce once put half a file live, e.g. a route cut just before its
    // `auth: required`. So a reload waits until two reads a quiet period apart agree (size, mtime
    // and content) and no event came in between; a file still changing is read again, bounded.
    const QUIET_MS = 150;
    const STABLE_MS = 500;
    const MAX_CHECKS = 20;
    let events = 0;
    const fingerprint = (): string => {
      // Not read when it is no regular file: a FIFO would block here for ever. The reload then
      // refuses it (configFileKind.ts) and the last good config keeps serving.
      const kind = configFileKindProblem(path);
      if (kind) return kind;
      try {
        const s = statSync(path);
        const hash = createHash('sha256').update(readFileSync(path)).digest('hex');
        return `${s.size}:${s.mtimeMs}:${hash}`;
      } catch {
        return 'unreadable'; // gone mid-rename: judged again at the next read
      }
    };
    const settle = (checks: number) => {
      const seen = events;
      const before = fingerprint();
      timer = setTimeout(() => {
        if (events !== seen) return; // the event rescheduled this
        if (fingerprint() === before) {
          reload();
        } else if (checks < MAX_CHECKS) {
          settle(checks + 1);
        } else {
          // Not loaded: a file that never settles is not trusted; the next event starts again.
          log.warn({ file: path }, 'config file still changing; not reloaded until it settles');
        }
      }, STABLE_MS);
    };
    // Watch the folder, not the file: editors and Kubernetes ConfigMaps replace the file (rename).
    watcher = watch(dirname(path), (_event, name) => {
      if (name && name !== file && !String(name).startsWith('..')) return;
      events++;
      clearTimeout(timer);
      timer = setTimeout(() => settle(1), QUIET_MS);
    });
    watcher.on('error', (err) => log.warn({ err }, 'config watch failed'));
    // A check still pending when the gateway closes would reload a closed gateway.
    watcher.on('close', () => clearTimeout(timer));
  }

  return {
    server,
    log,
    events,
    feature: (name) => features.find((f) => f.name === name),
    config: () => current,
    reload,
    url() {
      const a = server.address() as AddressInfo;
      return `${listener.secure ? 'https' : 'http'}://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
    },
    async listen() {
      if (redis) await waitForRedis(redis, 3000);
      // Routes that carry an assertion sign from the first request: load the keys now.
      if (current.routes.some((r) => r.inject.jwt))
        await keys.start().catch((err) => {
          log.error({ err }, 'could not load the signing keys; they are loaded again on first use');
        });
      await services.maintenance.start();
      // A replica that served before its subscriptions were confirmed could miss a session ending
      // on another replica and keep that user's terminal open: wait for them (bounded, like Redis).
      if (redis && !(await store.whenSubscribed(3000)))
        log.warn(
          'redis subscriptions not confirmed yet; serving, and looking up open terminals once they are',
        );
      return new Promise((resolveListen, reject) => {
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
            resolveListen(server.address() as AddressInfo);
          },
        );
      });
    },
    async close(graceMs = 10_000) {
      watcher?.close();
      const closed = new Promise<void>((done) => server.close(() => done()));
      listener.closeIdleConnections();
      clearInterval(terminalSweep);
      tunnels.closeAll();
      tunnels.stop();
      const timer = setTimeout(() => listener.closeAllConnections(), graceMs);
      await closed;
      clearTimeout(timer);
      for (const f of [...features].reverse())
        await f.close?.().catch((err) => log.warn({ err, feature: f.name }, 'feature close failed'));
      keys.stop();
      services.maintenance.stop();
      await services.providers.close();
      await sessions.close();
      await store.close();
      services.upstreams.close();
      redis?.disconnect();
      accessLog.close();
    },
  };
}

/**
 * Whether a reload changed what sessions mean: the primary provider, a provider removed or added
 * (a primary user's `partner:` name becomes the partner's), or one pointed at another IdP.
 */
function providersChanged(before: Config, next: Config): boolean {
  if (before.primaryIdp !== next.primaryIdp) return true;
  const a = before.identityProviderSources;
  const b = next.identityProviderSources;
  if (a.size !== b.size) return true;
  for (const [id, source] of a) if (b.get(id) !== source) return true;
  return false;
}

/**
 * Ends a connection with a last answer, and destroys it `graceMs` later whatever the client does:
 * `end()` alone waits for the client, and one that never reads (slowloris) or never finished its
 * TLS handshake (the answer cannot even be written) held its socket and descriptor for good.
 */
function endThenDestroy(socket: Duplex, last: string | undefined, graceMs: number): void {
  socket.end(last);
  const timer = setTimeout(() => socket.destroy(), graceMs).unref();
  socket.once('close', () => clearTimeout(timer));
}

/** Module-level so it keeps nothing of the request alive for the life of a WebSocket. */
function destroySocket(this: Duplex): void {
  this.destroy();
}
