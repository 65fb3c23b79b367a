import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import * as client from 'openid-client';
import type { Config } from '../config/types.ts';
import type { Identity } from '../context.ts';
import { GatewayError } from '../errors.ts';
import { channels } from '../ops/channels.ts';
import { pageBrand } from '../pages/brandSource.ts';
import { pickLang } from '../pages/negotiate.ts';
import type { Auth } from './auth.ts';
import { chooserPage, loggedOutPage, logoutConfirmPage } from './loginPages.ts';
import type { LoginProvider } from './providers/types.ts';
import { safeReturnPath } from './safeReturnPath.ts';
import type { LoginTransaction, Tokens } from './session/sessionData.ts';

const LAST_IDP_COOKIE = 'portico_idp';
const MAX_PENDING_LOGINS = 5;
const LOGIN_TTL_MS = 10 * 60_000;

type Req = Request & { portico?: { clientIp?: string; proto?: string; log?: import('pino').Logger } };

/**
 * /_portico/login, login/:idp, callback/:idp, logout, logged-out, backchannel-logout/:idp, me,
 * jwks.json. The session cookie is managed here by express-session; the proxied path only reads it.
 */
export function loginRouter(auth: Auth, config: () => Config): Router {
  const router = express.Router();
  const { sessions } = auth;
  const providersOf = () => auth.providers(config());
  const publicBase = (req: Req) =>
    config().publicUrl?.origin ?? `${req.portico?.proto ?? 'http'}://${req.headers.host}`;

  // express-session only sets a Secure cookie on a secure request; behind a TLS-terminating
  // load balancer the connection is plain HTTP, so the public URL decides.
  const withSession = [
    (req: Req, _res: Response, next: NextFunction) => {
      Object.defineProperty(req, 'secure', {
        value: sessions.secure || req.portico?.proto === 'https',
        configurable: true,
      });
      next();
    },
    (req: Req, res: Response, next: NextFunction) =>
      sessions.middleware(req, res, (err?: unknown) =>
        next(err ? new GatewayError('PORTICO_ERR_UNAVAILABLE', { cause: err }) : undefined),
      ),
  ];
  const form = express.urlencoded({ extended: false, limit: '64kb' });
  const noStore = (_req: Request, res: Response, next: NextFunction) => {
    res.set('cache-control', 'no-store');
    next();
  };
  router.use(['/login', '/callback', '/logout', '/logged-out', '/me', '/backchannel-logout'], noStore);

  router.get('/login', (req: Req, res) => {
    const rd = safeReturnPath(req.query.rd);
    const providers = [...providersOf().values()];
    const lang = pickLang(req);
    const wanted = typeof req.query.idp === 'string' ? req.query.idp : undefined;
    const last = readCookie(req, LAST_IDP_COOKIE);
    const direct =
      wanted && providersOf().has(wanted)
        ? wanted
        : providers.length === 1
          ? providers[0]!.id
          : req.query.choose === undefined && last && providersOf().has(last)
            ? last
            : undefined;
    if (direct) {
      res.redirect(
        302,
        `/_portico/login/${encodeURIComponent(direct)}${rd === '/' ? '' : `?rd=${encodeURIComponent(rd)}`}`,
      );
      return;
    }
    const texts = pageBrand.get().login?.(lang);
    res.type('html').send(chooserPage(lang, providers, rd, texts?.title, texts?.subtitle));
  });

  router.get('/login/:idp', ...withSession, async (req: Req, res, next) => {
    try {
      const provider = providerOr404(providersOf(), req.params.idp as string);
      const rd = safeReturnPath(req.query.rd);
      if (provider.kind === 'form') {
        req.session.csrf ??= randomBytes(24).toString('base64url');
        await saveSession(req);
        res.type('html').send(
          provider.renderForm!(pickLang(req), {
            action: `/_portico/login/${encodeURIComponent(provider.id)}`,
            csrf: req.session.csrf,
            rd,
          }),
        );
        return;
      }
      await provider.probe?.();
      const state = client.randomState();
      const txn: LoginTransaction = { idp: provider.id, returnTo: rd, createdAt: Date.now() };
      const url = await provider.begin(
        txn,
        state,
        `${publicBase(req)}/_portico/callback/${encodeURIComponent(provider.id)}`,
      );
      if (provider.postCallback) {
        await sessions.putTransaction(state, txn, LOGIN_TTL_MS);
        res.redirect(302, url.href);
        return;
      }
      const pending = Object.entries(req.session.logins ?? {})
        .filter(([, t]) => Date.now() - t.createdAt < LOGIN_TTL_MS)
        .slice(-(MAX_PENDING_LOGINS - 1));
      req.session.logins = { ...Object.fromEntries(pending), [state]: txn };
      await saveSession(req);
      res.redirect(302, url.href);
    } catch (err) {
      next(err);
    }
  });

  const callback = async (req: Req, res: Response, next: NextFunction) => {
    const idp = req.params.idp as string;
    try {
      const provider = providerOr404(providersOf(), idp);
      const params =
        req.method === 'POST' ? (req.body as Record<string, string>) : (req.query as Record<string, string>);
      const state =
        typeof params.state === 'string'
          ? params.state
          : typeof params.RelayState === 'string'
            ? params.RelayState
            : undefined;
      // The transaction is consumed before anything is redeemed: a replayed callback finds nothing.
      let txn = state ? req.session.logins?.[state] : undefined;
      if (state && req.session.logins?.[state]) {
        delete req.session.logins[state];
        await saveSession(req);
      }
      if (!txn && state && provider.postCallback) txn = await sessions.takeTransaction(state);
      if (!txn || txn.idp !== idp || Date.now() - txn.createdAt > LOGIN_TTL_MS) {
        throw new GatewayError('PORTICO_ERR_LOGIN', {
          detail: 'The sign-in link expired or was already used.',
        });
      }
      if (typeof params.error === 'string')
        throw new GatewayError('PORTICO_ERR_LOGIN', {
          detail: String(params.error_description ?? params.error).slice(0, 200),
        });
      const callbackUrl = new URL(
        `${publicBase(req)}/_portico/callback/${encodeURIComponent(idp)}${req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?')) : ''}`,
      );
      const result = await provider.complete(req, {
        callbackUrl,
        txn,
        state,
        body: req.method === 'POST' ? (req.body as Record<string, string>) : undefined,
      });
      await establish(req, res, result.identity, result.tokens, result.idpSid);
      loginEvent(req, idp, 'success', result.identity);
      res.redirect(302, txn.returnTo);
    } catch (err) {
      loginEvent(req, idp, 'failure', undefined, (err as GatewayError).detail ?? (err as Error).message);
      next(err);
    }
  };
  router.post('/login/:idp', form, ...withSession, async (req: Req, res, next) => {
    const idp = req.params.idp as string;
    const body = (req.body ?? {}) as Record<string, string>;
    const rd = safeReturnPath(body.rd);
    const lang = pickLang(req);
    let provider: LoginProvider | undefined;
    try {
      provider = providerOr404(providersOf(), idp);
      if (provider.kind !== 'form') throw new GatewayError('PORTICO_ERR_METHOD');
      // The form's token must match this browser's session: a cross-site post cannot sign a user in.
      if (!req.session.csrf || typeof body.csrf !== 'string' || !safeEqual(body.csrf, req.session.csrf)) {
        throw new GatewayError('PORTICO_ERR_LOGIN', { detail: 'The form expired. Please try again.' });
      }
      const result = await provider.complete(req, {
        callbackUrl: new URL(`${publicBase(req)}${req.originalUrl}`),
        txn: { idp, returnTo: rd, createdAt: Date.now() },
        state: undefined,
        body,
        clientIp: req.portico?.clientIp,
      });
      await establish(req, res, result.identity, result.tokens, result.idpSid);
      loginEvent(req, idp, 'success', result.identity);
      res.redirect(303, rd);
    } catch (err) {
      const e = err as GatewayError;
      loginEvent(req, idp, 'failure', undefined, e.detail ?? e.message);
      if (provider?.kind === 'form' && (e.status === 401 || e.status === 429) && req.session.csrf) {
        if (e.headers) res.set(e.headers);
        res
          .status(e.status)
          .type('html')
          .send(
            provider.renderForm!(lang, {
              action: `/_portico/login/${encodeURIComponent(idp)}`,
              csrf: req.session.csrf,
              rd,
              error: e.detail ?? e.message,
              username: typeof body.username === 'string' ? body.username.slice(0, 256) : undefined,
            }),
          );
        return;
      }
      next(err);
    }
  });

  router.get('/callback/:idp', ...withSession, callback);
  router.post('/callback/:idp', form, ...withSession, callback);

  /** Regenerates the session (no fixation) and stores the identity and tokens server-side. */
  async function establish(
    req: Req,
    res: Response,
    identity: Identity,
    tokens: Tokens | undefined,
    idpSid: string | undefined,
  ) {
    const previous = req.session.identity ? req.session.id : undefined;
    await new Promise<void>((resolve, reject) =>
      req.session.regenerate((err) =>
        err ? reject(new GatewayError('PORTICO_ERR_UNAVAILABLE', { cause: err })) : resolve(),
      ),
    );
    // Signing in again replaces the session: what was bound to the old one ends with it.
    if (previous && channels.sessionEnded.hasSubscribers)
      channels.sessionEnded.publish({ sessionId: previous });
    const now = Date.now();
    req.session.identity = identity;
    req.session.tokens = tokens;
    req.session.idpSid = idpSid;
    req.session.createdAt = now;
    req.session.lastSeen = now;
    await saveSession(req);
    await sessions.index(req.session.id, req.session);
    res.cookie(LAST_IDP_COOKIE, identity.idp, {
      httpOnly: true,
      sameSite: 'lax',
      secure: sessions.secure,
      path: '/_portico/',
      maxAge: 365 * 86_400_000,
    });
  }

  router.get('/logout', ...withSession, async (req: Req, res, next) => {
    try {
      // The confirmation form carries a token bound to this session: a post from any other page,
      // even one on a sibling site whose Origin reads `null`, cannot sign the user out.
      if (req.session.identity && !req.session.csrf) {
        req.session.csrf = randomBytes(24).toString('base64url');
        await saveSession(req);
      }
      res
        .type('html')
        .send(logoutConfirmPage(pickLang(req), safeReturnPath(req.query.rd), req.session.csrf ?? ''));
    } catch (err) {
      next(err);
    }
  });

  router.post('/logout', form, ...withSession, async (req: Req, res, next) => {
    try {
      // A cross-site form post carries no session cookie (SameSite=Lax), and a same-site one must
      // say where it came from.
      const origin = req.headers.origin;
      if (origin !== undefined && origin !== 'null' && origin !== publicBase(req))
        throw new GatewayError('PORTICO_ERR_BAD_ORIGIN');
      const body = (req.body ?? {}) as Record<string, string>;
      const rd = safeReturnPath(body.rd);
      const identity = req.session.identity;
      if (
        identity &&
        (!req.session.csrf || typeof body.csrf !== 'string' || !safeEqual(body.csrf, req.session.csrf))
      ) {
        throw new GatewayError('PORTICO_ERR_BAD_ORIGIN', { detail: 'Use the sign-out button to sign out.' });
      }
      const tokens = req.session.tokens;
      const id = req.session.id;
      await new Promise<void>((resolve, reject) =>
        req.session.destroy((err) =>
          err ? reject(new GatewayError('PORTICO_ERR_UNAVAILABLE', { cause: err })) : resolve(),
        ),
      );
      await sessions.destroy(id);
      res.clearCookie(sessions.cookieName, { path: '/' });
      if (identity && channels.audit.hasSubscribers)
        channels.audit.publish({
          type: 'logout',
          actor: identity.username,
          idp: identity.idp,
          ip: req.portico?.clientIp,
        });
      const after = `${publicBase(req)}/_portico/logged-out${rd === '/' ? '' : `?rd=${encodeURIComponent(rd)}`}`;
      const provider = identity ? providersOf().get(identity.idp) : undefined;
      const endSession = provider?.endSessionUrl
        ? await provider.endSessionUrl({ tokens, identity }, after).catch(() => undefined)
        : undefined;
      res.redirect(303, endSession?.href ?? after);
    } catch (err) {
      next(err);
    }
  });

  router.get('/logged-out', (req: Req, res) => {
    res.type('html').send(loggedOutPage(pickLang(req), safeReturnPath(req.query.rd)));
  });

  router.post('/backchannel-logout/:idp', form, async (req: Req, res) => {
    const idp = req.params.idp as string;
    const provider = providersOf().get(idp);
    const token = (req.body as Record<string, string> | undefined)?.logout_token;
    if (!provider?.verifyLogoutToken || typeof token !== 'string') {
      res.status(400).json({ error: 'invalid_request', error_description: 'logout_token is required' });
      return;
    }
    try {
      const { sid, sub } = await provider.verifyLogoutToken(token);
      const revoked = await sessions.revoke(sid ? { idp, sid } : { idp, sub });
      req.portico?.log?.info({ idp, sid, sub, revoked }, 'back-channel logout');
      if (channels.audit.hasSubscribers)
        channels.audit.publish({
          type: 'logout',
          actor: sub ?? sid,
          idp,
          detail: { backchannel: true, revoked },
        });
      res.status(200).end();
    } catch (err) {
      res
        .status(400)
        .json({ error: 'invalid_request', error_description: (err as Error).message.slice(0, 200) });
    }
  });

  router.get('/me', ...withSession, (req: Req, res) => {
    const identity = req.session.identity;
    if (!identity) {
      res.status(401).json({ error: 'PORTICO_ERR_UNAUTHENTICATED', login: '/_portico/login' });
      return;
    }
    const { claims: _claims, ...visible } = identity;
    res.json({
      ...visible,
      session: {
        createdAt: req.session.createdAt,
        expiresAt: (req.session.createdAt ?? 0) + sessions.maxAgeMs,
      },
    });
  });

  router.get('/jwks.json', (_req, res) => {
    res.set('cache-control', 'public, max-age=300').json(auth.keys.jwks());
  });

  return router;
}

function providerOr404(providers: Map<string, LoginProvider>, id: string): LoginProvider {
  const p = providers.get(id);
  if (!p) throw new GatewayError('PORTICO_ERR_NOT_FOUND');
  return p;
}

function saveSession(req: Request): Promise<void> {
  return new Promise((resolve, reject) =>
    req.session.save((err) =>
      err ? reject(new GatewayError('PORTICO_ERR_UNAVAILABLE', { cause: err })) : resolve(),
    ),
  );
}

function readCookie(req: IncomingMessage, name: string): string | undefined {
  const m = new RegExp(`(?:^|;\\s*)${name}=([^;]*)`).exec(req.headers.cookie ?? '');
  return m ? decodeURIComponent(m[1]!) : undefined;
}

function loginEvent(
  req: Req,
  idp: string,
  result: 'success' | 'failure',
  identity?: Identity,
  reason?: string,
) {
  if (!channels.login.hasSubscribers) return;
  channels.login.publish({ idp, result, reason, user: identity?.username, ip: req.portico?.clientIp });
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
