import type { IncomingMessage } from 'node:http';
import type { NextFunction, Request, Response } from 'express';
import type { JWK } from 'jose';
import { parseDuration } from '../config/duration.ts';
import type { RawOidcProviderConfig } from '../config/types.ts';
import type { Config } from '../config/types.ts';
import { GatewayError } from '../errors.ts';
import { expressLibrary } from '../endpoints/expressLibrary.ts';
import { routerOnFirstRequest } from '../endpoints/routerOnFirstRequest.ts';
import type { FeatureContext, FeatureFactory } from '../server.ts';
import { clientMetadata } from './clientMetadata.ts';
import { cookieKeys } from './cookieKeys.ts';
import { endBoundSessions } from './endBoundSessions.ts';
import { interactionHandler } from './interactionHandler.ts';
import { logoutTokenGate } from './logoutTokenGate.ts';
import { porticoSessionHooks } from './porticoSessionHooks.ts';
import { sessionBindings } from './sessionBindings.ts';
import { loadSigningKey } from './signingKey.ts';
import { storeAdapter } from './storeAdapter.ts';
import type { OidcProvider } from './types.ts';
import { boundedCache } from '../store/boundedCache.ts';

type PorticoSession = NonNullable<Awaited<ReturnType<FeatureContext['sessionOf']>>>;

/**
 * Portico as an OpenID Provider (SPEC §9) under /_portico/oidc, for upstreams that sign users in
 * with OIDC (DCE 5's ghippo, Grafana, the customer system). Idle until routes.yaml has
 * `oidcProvider:`; clients and publicUrl are read from the live config. Everything the provider
 * issues is bound to the Portico session of the browser it was issued to, and ends with it.
 */
export const oidcProviderFeature: FeatureFactory = (ctx) => {
  const log = ctx.log.child({ feature: 'oidcProvider' });
  const opConfig = (): RawOidcProviderConfig | undefined => ctx.config().raw.oidcProvider;
  const client = (id: string) => opConfig()?.clients.find((c) => c.id === id);
  // Sessions are made with the session settings of the start; so is their ceiling here.
  const sessionTtlMs = parseDuration(ctx.config().raw.session?.maxAge ?? '8h');
  const adapter = storeAdapter(ctx.services.oidcStore, {
    client: (id) => {
      const c = client(id);
      return c ? clientMetadata(c) : undefined;
    },
    longestTtlMs: sessionTtlMs,
  });
  const bindings = sessionBindings(ctx.services.store);
  // Ended here moments ago: refused at once, before the store has caught up.
  const ended = boundedCache<string, true>(10_000, { ttl: 10 * 60_000 });
  const sessions = new WeakMap<IncomingMessage, Promise<PorticoSession | undefined>>();
  const sessionOf = (req: IncomingMessage) => {
    let s = sessions.get(req);
    if (!s) sessions.set(req, (s = ctx.sessionOf(req)));
    return s;
  };

  const hooks = porticoSessionHooks({
    sessionOf,
    endSession: (id) => ctx.endSession(id, 'oidc-logout'),
    client,
    bindings,
    ended,
    logoutHints: {
      remember: (secret, sessionId) =>
        ctx.services.store.set(`oidc-logout:${secret}`, sessionId, 10 * 60_000),
      recall: (secret) => ctx.services.store.take(`oidc-logout:${secret}`),
    },
    allowContext: ctx.config,
    sessionStands: (id) => ctx.services.sessions.stands(id),
    trustsEmail: (idp) =>
      (ctx.config().raw.identityProviders ?? []).some((p) => p.id === idp && p.trustEmail === true),
  });

  let signingKey: Promise<JWK> | undefined;
  let built:
    | { key: string; provider: OidcProvider; handle: ReturnType<OidcProvider['callback']> }
    | undefined;
  const providerFor = async (config: Config): Promise<NonNullable<typeof built>> => {
    const publicUrl = config.publicUrl!;
    const secret = config.raw.session?.secret;
    const secrets = Array.isArray(secret) ? secret : secret ? [secret] : [];
    const issuer = `${publicUrl.origin}/_portico/oidc`;
    const key = `${issuer}\n${secrets.join('\n')}`;
    if (built?.key === key) return built;
    signingKey ??= loadSigningKey(ctx.services.store).catch((err) => {
      signingKey = undefined;
      throw err;
    });
    const jwk = await signingKey;
    if (built?.key === key) return built;
    // oidc-provider (47 MB, 270 ms to load) is loaded when a client first asks, not at start.
    const { buildProvider } = await import('./buildProvider.ts');
    const provider = buildProvider({
      issuer,
      secure: publicUrl.protocol === 'https:',
      cookieKeys: cookieKeys(secrets),
      signingKey: jwk,
      adapter,
      sessionTtlSeconds: Math.ceil(sessionTtlMs / 1000),
      ...hooks,
      pkceRequired: (id) => client(id)?.pkce === 'required',
      fetch: logoutTokenGate(ctx.services.store),
      pages: ctx.services.pages,
      log,
    });
    built = { key, provider, handle: provider.callback() };
    return built;
  };
  const currentProvider = async () => (await providerFor(ctx.config())).provider;

  const pending = new Set<Promise<void>>();
  // Every replica refuses the ended session at once; the one where it ended does the work (the
  // grants and OP sessions live in the shared store, and each logout token goes out once).
  const stopListening = ctx.events.on('sessionEnded', (e) => {
    const id = e.sessionId;
    ended.set(id, true);
    if (!e.local) return;
    const work = endBoundSessions(id, {
      bindings,
      adapter,
      provider: async () => (opConfig() && ctx.config().publicUrl ? currentProvider() : undefined),
      log,
    })
      .catch((err) => log.warn({ err }, 'could not end the OpenID Provider sessions of an ended session'))
      .finally(() => pending.delete(work));
    pending.add(work);
  });

  // Never from the request's Host: Portico may sit behind a TLS-terminating load balancer.
  const asPublicRequest = (req: Request, _res: Response, next: NextFunction) => {
    const config = ctx.config();
    if (!opConfig() || !config.publicUrl) {
      next(new GatewayError('PORTICO_ERR_NOT_FOUND'));
      return;
    }
    req.headers['x-forwarded-proto'] = config.publicUrl.protocol.slice(0, -1);
    req.headers['x-forwarded-host'] = config.publicUrl.host;
    req.headers['x-forwarded-for'] =
      (req as { portico?: { clientIp?: string } }).portico?.clientIp ?? req.socket.remoteAddress ?? '';
    next();
  };
  const endpoints = () => {
    const express = expressLibrary();
    const op = express.Router();
    op.get(
      '/interaction/:uid',
      interactionHandler({
        provider: currentProvider,
        sessionOf,
        client,
        bindings,
        adapter,
        events: ctx.events,
        allowContext: ctx.config,
      }),
    );
    op.use(async (req, res, next) => {
      try {
        // koa's cookies module takes express's `res.set` as the sign of an http.ServerResponse and
        // calls http.OutgoingMessage's setHeader on the answer, which an HTTP/2 answer is not (500):
        // `set` is hidden from it, so it calls the answer's own setHeader.
        if (req.httpVersionMajor === 2) Object.defineProperty(res, 'set', { value: undefined });
        (await providerFor(ctx.config())).handle(req, res);
      } catch (err) {
        next(err);
      }
    });
    return express.Router().use('/oidc', asPublicRequest, op);
  };

  return {
    name: 'oidcProvider',
    routers: [routerOnFirstRequest(endpoints)],
    close: async () => {
      stopListening();
      await Promise.all(pending);
    },
  };
};
