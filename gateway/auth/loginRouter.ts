import { createHash, randomBytes } from 'node:crypto';
import type { NextFunction, Request, Response, Router } from 'express';
import { expressLibrary } from '../endpoints/expressLibrary.ts';
import type { Identity } from '../context.ts';
import type { OwnRequest } from '../endpoints/ownEndpoints.ts';
import { GatewayError, isStoreUnavailable } from '../errors.ts';
import { qualifyIdentity } from '../identity/qualifyIdentity.ts';
import { pickLang } from '../pages/negotiate.ts';
import { addressKey } from '../routePolicy/addressKey.ts';
import { publicOriginOf } from '../routing/publicOrigin.ts';
import type { Services } from '../services.ts';
import { chooserPage, loggedOutPage, loginHelp, logoutConfirmPage } from './loginPages.ts';
import type { LoginProvider } from './providers/types.ts';
import { safeReturnPath } from './safeReturnPath.ts';
import { loginCookie, loginNonce } from './session/loginTransactions.ts';
import { formToken, readCookies, tokensEqual } from './session/sessionCookie.ts';
import type { LoginTransaction, Tokens } from './session/sessionData.ts';
import type { LoadedSession } from './session/sessions.ts';

const LAST_IDP_COOKIE = 'portico_idp';

type Req = Request & OwnRequest;
/** How long a logout token's jti is remembered: its accepted age (verifyLogoutToken) and skew. */
const LOGOUT_TOKEN_MEMORY_MS = 6 * 60_000;

type Deps = Pick<Services, 'config' | 'sessions' | 'logins' | 'providers' | 'events' | 'pages' | 'store'>;

/**
 * /_portico/login, login/:idp, callback/:idp, logout, logged-out, backchannel-logout/:idp, me,
 * jwks.json. A session is created only when a sign-in completes (with a new id: no fixation);
 * sign-ins in flight are kept apart by their `state`, bound to the browser by a short-lived
 * cookie, and the forms carry tokens derived from what they protect, so an anonymous visitor
 * stores nothing that could crowd out a signed-in user.
 */
export function loginRouter(s: Deps, jwks: () => Promise<unknown>): Router {
  const express = expressLibrary();
  const router = express.Router();
  const { sessions, logins } = s;
  const providersOf = () => s.providers.providers(s.config());
  // Each sign-in started keeps a transaction in the store for ten minutes (up to ~5 KB with a long
  // return path): unlimited, one client filled Redis at ~1,000 a second (limits.signInStartsPerMinute).
  const countStart = async (ip: string | undefined) => {
    const limit = s.config().limits.signInStartsPerMinute;
    if (ip === undefined || limit === 0) return;
    const key = `login-start:${createHash('sha256').update(addressKey(ip)).digest('base64url').slice(0, 22)}`;
    const { count, resetInMs } = await s.store.hit(key, 60_000);
    if (count > limit)
      throw new GatewayError('PORTICO_ERR_TOO_MANY', {
        headers: { 'retry-after': String(Math.max(1, Math.ceil(resetInMs / 1000))) },
      });
  };
  // publicUrl, or the host a route names (routes[].host): a sign-in comes back to where it began.
  const publicBase = (req: Req) =>
    publicOriginOf(s.config(), req.headers.host) ?? `${req.portico?.proto ?? 'http'}://${req.headers.host}`;
  // Behind a TLS-terminating load balancer the connection is plain HTTP: the public URL decides.
  const secure = (req: Req) => s.config().publicUrl?.protocol === 'https:' || req.portico?.proto === 'https';
  const setCookies = (res: Response, ...values: (string | undefined)[]) => {
    const list = values.filter((v): v is string => v !== undefined);
    if (list.length > 0) res.append('set-cookie', list);
  };
  const render = (res: Response, html: string, status = 200) => res.status(status).type('html').send(html);

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
    const last = readCookies(req.headers.cookie)[LAST_IDP_COOKIE];
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
    const texts = s.pages.brand().login?.(lang);
    render(res, chooserPage(s.pages, lang, providers, rd, texts?.title, texts?.subtitle, texts?.helpHtml));
  });

  /** The form token of this browser's sign-in: derived from its login cookie, nothing stored. */
  const formCsrf = (nonce: string) => formToken(sessions.secret, 'login-form', nonce);
  const renderForm = (req: Req, provider: LoginProvider, rd: string, nonce: string, extra = {}) => {
    const lang = pickLang(req);
    const f = provider.renderForm!(lang, {
      action: `/_portico/login/${encodeURIComponent(provider.id)}`,
      csrf: formCsrf(nonce),
      rd,
      ...extra,
    });
    const help = loginHelp(s.pages.brand().login?.(lang).helpHtml ?? '');
    return s.pages.render({ lang, title: f.title, heading: f.title, bodyHtml: f.bodyHtml + help });
  };

  router.get('/login/:idp', async (req: Req, res, next) => {
    try {
      const provider = providerOr404(providersOf(), req.params.idp as string);
      const rd = safeReturnPath(req.query.rd);
      const { nonce, setCookie } = logins.browserNonce(req, secure(req));
      if (provider.kind === 'form') {
        setCookies(res, setCookie);
        render(res, renderForm(req, provider, rd, nonce));
        return;
      }
      await provider.probe?.();
      await countStart(req.portico?.clientIp);
      // 32 random bytes, as openid-client's randomState() makes them.
      const state = randomBytes(32).toString('base64url');
      const txn: LoginTransaction = { idp: provider.id, returnTo: rd, createdAt: Date.now() };
      const url = await provider.begin(
        txn,
        state,
        `${publicBase(req)}/_portico/callback/${encodeURIComponent(provider.id)}`,
      );
      // Bound to this browser for every kind of provider: a POST-binding answer (SAML) comes
      // cross-site without the Lax cookie, and is brought back by a GET that has it (callback).
      await logins.put(state, txn, nonce);
      setCookies(res, setCookie);
      res.redirect(302, url.href);
    } catch (err) {
      next(err);
    }
  });

  const callback = async (req: Req, res: Response, next: NextFunction) => {
    const idp = req.params.idp as string;
    try {
      const provider = providerOr404(providersOf(), idp);
      const expired = () =>
        new GatewayError('PORTICO_ERR_LOGIN', { detail: 'The sign-in link expired or was already used.' });
      const callbackUrl = new URL(`${publicBase(req)}/_portico/callback/${encodeURIComponent(idp)}`);
      if (provider.postCallback && req.method === 'POST') {
        // The IdP's auto-posted answer is a cross-site POST: the browser's Lax login cookie is not
        // on it, and anyone could post an answer they got for their own sign-in (login CSRF: the
        // victim would be signed in as the attacker). The answer is checked now, against its
        // sign-in's request, and only its outcome (an identity, not the 64 KB answer) is held, for
        // a minute, until a top-level GET that carries the cookie takes it with the browser's binding.
        const fields = (req.body ?? {}) as Record<string, unknown>;
        const state = typeof fields.RelayState === 'string' ? fields.RelayState : undefined;
        const txn = state ? await logins.peek(state) : undefined;
        if (!state || !txn || txn.idp !== idp) throw expired();
        const SAMLResponse = typeof fields.SAMLResponse === 'string' ? fields.SAMLResponse : '';
        const result = await provider.complete(req, { callbackUrl, txn, state, body: { SAMLResponse } });
        await logins.holdOutcome(state, result);
        res.redirect(
          303,
          `/_portico/callback/${encodeURIComponent(idp)}?resume=${encodeURIComponent(state)}`,
        );
        return;
      }
      if (provider.postCallback) {
        const state = typeof req.query.resume === 'string' ? req.query.resume : undefined;
        const txn = state ? await logins.take(state, req, secure(req)) : undefined;
        const result = txn && txn.idp === idp ? await logins.takeOutcome(state!) : undefined;
        if (!txn || !result) throw expired();
        const identity = await establish(req, res, result.identity, result.tokens, result.idpSid);
        loginEvent(req, idp, 'success', identity);
        res.redirect(302, txn.returnTo);
        return;
      }
      const params =
        req.method === 'POST' ? (req.body as Record<string, string>) : (req.query as Record<string, string>);
      const state =
        typeof params.state === 'string'
          ? params.state
          : typeof params.RelayState === 'string'
            ? params.RelayState
            : undefined;
      // The transaction is consumed before anything is redeemed: a replayed callback finds nothing.
      const txn = state ? await logins.take(state, req, secure(req)) : undefined;
      if (!txn || txn.idp !== idp) throw expired();
      if (typeof params.error === 'string')
        throw new GatewayError('PORTICO_ERR_LOGIN', {
          detail: String(params.error_description ?? params.error).slice(0, 200),
        });
      const query = req.originalUrl.includes('?') ? req.originalUrl.slice(req.originalUrl.indexOf('?')) : '';
      const result = await provider.complete(req, {
        callbackUrl: new URL(`${callbackUrl.href}${query}`),
        txn,
        state,
        body: req.method === 'POST' ? (req.body as Record<string, string>) : undefined,
      });
      const identity = await establish(req, res, result.identity, result.tokens, result.idpSid);
      loginEvent(req, idp, 'success', identity);
      res.redirect(302, txn.returnTo);
    } catch (err) {
      loginEvent(req, idp, 'failure', undefined, (err as GatewayError).detail ?? (err as Error).message);
      next(err);
    }
  };

  router.post('/login/:idp', form, async (req: Req, res, next) => {
    const idp = req.params.idp as string;
    const body = (req.body ?? {}) as Record<string, string>;
    const rd = safeReturnPath(body.rd);
    const nonce = loginNonce(req, secure(req));
    let provider: LoginProvider | undefined;
    try {
      provider = providerOr404(providersOf(), idp);
      if (provider.kind !== 'form') throw new GatewayError('PORTICO_ERR_METHOD');
      // The form's token must match this browser's login cookie: a cross-site post cannot sign a user in.
      if (!nonce || !tokensEqual(body.csrf, formCsrf(nonce)))
        throw new GatewayError('PORTICO_ERR_LOGIN', { detail: 'The form expired. Please try again.' });
      const result = await provider.complete(req, {
        callbackUrl: new URL(`${publicBase(req)}${req.originalUrl}`),
        txn: { idp, returnTo: rd, createdAt: Date.now() },
        state: undefined,
        body,
        clientIp: req.portico?.clientIp,
      });
      const identity = await establish(req, res, result.identity, result.tokens, result.idpSid);
      loginEvent(req, idp, 'success', identity);
      res.redirect(303, rd);
    } catch (err) {
      const e = err as GatewayError;
      // The name typed at Portico's own form: an OpenID, OAuth or SAML failure knows none.
      const attempted = provider?.kind === 'form' ? attemptedUserName(body.username) : undefined;
      loginEvent(req, idp, 'failure', undefined, e.detail ?? e.message, attempted);
      if (provider?.kind === 'form' && nonce && (e.status === 401 || e.status === 429)) {
        if (e.headers) res.set(e.headers);
        const username = typeof body.username === 'string' ? body.username.slice(0, 256) : undefined;
        render(
          res,
          renderForm(req, provider, rd, nonce, { error: e.detail ?? e.message, username }),
          e.status,
        );
        return;
      }
      next(err);
    }
  });

  router.get('/callback/:idp', callback);
  router.post('/callback/:idp', form, callback);

  /** A new session (a new id: no fixation) with the identity, named as the config says. */
  async function establish(
    req: Req,
    res: Response,
    raw: Identity,
    tokens: Tokens | undefined,
    idpSid: string | undefined,
  ): Promise<Identity> {
    const config = s.config();
    const identity = qualifyIdentity(raw, config.primaryIdp, config.identityProviderIds);
    // Signing in again replaces the browser's current session, and every other one its cookies
    // carry: a planted cookie of a live session would otherwise make the new one ambiguous again
    // (a browser holding a signed id may end that session anyway, by signing out).
    for (const previous of sessions.idsOf(req)) await sessions.end(previous, 'replaced').catch(() => {});
    const namedUnder = config.primaryIdp ?? '';
    const source = config.identityProviderSources.get(identity.idp);
    const { setCookie } = await sessions.create(
      { identity, tokens, idpSid, namedUnder, source },
      secure(req),
    );
    res.cookie(LAST_IDP_COOKIE, identity.idp, {
      httpOnly: true,
      sameSite: 'lax',
      secure: secure(req),
      path: '/_portico/',
      maxAge: 365 * 86_400_000,
    });
    setCookies(res, setCookie);
    const login = loginCookie(secure(req));
    res.clearCookie(login.name, { path: login.path, secure: secure(req) });
    return identity;
  }

  /** The sign-out form's token: bound to the session it signs out, nothing stored. */
  const logoutCsrf = (sessionId: string) => formToken(sessions.secret, 'logout', sessionId);
  /**
   * The sessions a browser whose cookies conflict (two live sessions of ours, one planted) signs out
   * of, and the form's token bound to all of them: ending them is the way out of that state.
   */
  const rivals = (req: Req, loaded: LoadedSession | undefined) => {
    const ids = loaded ? [] : sessions.idsOf(req).sort();
    return { ids: ids.length > 1 ? ids : [], csrf: ids.length > 1 ? logoutCsrf(ids.join(' ')) : '' };
  };
  /**
   * The sessions a sign-out ends and the form's token bound to them. While the store cannot be
   * reached, every session our signed cookies carry: they are what the browser presents, and
   * signing out must not wait for the outage to end. With one cookie the token is the one the form
   * had when the store answered (a form shown before the outage still works); with a planted second
   * one it is bound to both, so such a form must be shown again.
   */
  const signingOut = async (req: Req) => {
    try {
      const loaded = await sessions.load(req);
      const conflict = rivals(req, loaded);
      return {
        loaded,
        ids: loaded ? [loaded.id] : conflict.ids,
        csrf: loaded ? logoutCsrf(loaded.id) : conflict.csrf,
      };
    } catch (err) {
      if (!isStoreUnavailable(err)) throw err;
      const ids = sessions.idsOf(req).sort();
      return { loaded: undefined, ids, csrf: ids.length > 0 ? logoutCsrf(ids.join(' ')) : '' };
    }
  };

  router.get('/logout', async (req: Req, res, next) => {
    try {
      // The confirmation form carries a token bound to this session: a post from any other page,
      // even one on a sibling site whose Origin reads `null`, cannot sign the user out.
      const { csrf } = await signingOut(req);
      render(res, logoutConfirmPage(s.pages, pickLang(req), safeReturnPath(req.query.rd), csrf));
    } catch (err) {
      next(err);
    }
  });

  router.post('/logout', form, async (req: Req, res, next) => {
    try {
      // A cross-site form post carries no session cookie (SameSite=Lax), and a same-site one must
      // say where it came from.
      const origin = req.headers.origin;
      if (origin !== undefined && origin !== 'null' && origin !== publicBase(req))
        throw new GatewayError('PORTICO_ERR_BAD_ORIGIN');
      const body = (req.body ?? {}) as Record<string, string>;
      const rd = safeReturnPath(body.rd);
      const { loaded, ids, csrf: expected } = await signingOut(req);
      if (expected !== '' && !tokensEqual(body.csrf, expected))
        throw new GatewayError('PORTICO_ERR_BAD_ORIGIN', { detail: 'Use the sign-out button to sign out.' });
      const identity = loaded?.data.identity;
      // Conflicting cookies: every session they carry ends (the planted one included), so neither
      // can lock the browser out once more. The store down: ended here now, there once it is back.
      for (const id of ids) await sessions.endEventually(id, 'logout');
      // Without a session to end the cookie is cleared only for our own pages: a cross-site post
      // (Origin `null` after a redirect, no Lax cookie sent) must not sign the browser out of a
      // session it did not present.
      if (expected !== '' || origin === publicBase(req)) setCookies(res, sessions.clearCookie(secure(req)));
      if (identity && s.events.has('audit'))
        s.events.emit('audit', {
          type: 'logout',
          actor: identity.username,
          idp: identity.idp,
          ip: req.portico?.clientIp,
        });
      // The store down and the session not in this process's cache: who it was is not known here,
      // but a sign-out happened and the audit trail says so.
      else if (!identity && ids.length > 0 && s.events.has('audit'))
        s.events.emit('audit', {
          type: 'logout',
          ip: req.portico?.clientIp,
          detail: { sessions: ids.length, storeUnavailable: true },
        });
      const after = `${publicBase(req)}/_portico/logged-out${rd === '/' ? '' : `?rd=${encodeURIComponent(rd)}`}`;
      const provider = identity ? providersOf().get(identity.idp) : undefined;
      const endSession = provider?.endSessionUrl
        ? await provider
            .endSessionUrl({ tokens: loaded?.data.tokens, identity }, after)
            .catch(() => undefined)
        : undefined;
      res.redirect(303, endSession?.href ?? after);
    } catch (err) {
      next(err);
    }
  });

  router.get('/logged-out', (req: Req, res) => {
    render(res, loggedOutPage(s.pages, pickLang(req), safeReturnPath(req.query.rd)));
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
      const { sid, sub, jti } = await provider.verifyLogoutToken(token);
      // A logout token is accepted once: replayed within its accepted age (5 min, 30 s of clock
      // skew), one naming only `sub` would end the user's next sessions too, again and again.
      const seen = `bcl-jti:${idp}:${jti}`;
      if (!(await s.store.add(seen, '1', LOGOUT_TOKEN_MEMORY_MS)))
        throw new Error('logout token already used');
      // Not done (the store dropped half-way): the IdP's retry of the same token must still count.
      const revoked = await sessions
        .revoke(sid ? { idp, sid } : { idp, sub }, 'backchannel-logout')
        .catch(async (err: unknown) => {
          await s.store.delete(seen).catch(() => {});
          throw err;
        });
      req.portico?.log?.info({ idp, sid, sub, revoked }, 'back-channel logout');
      if (s.events.has('audit'))
        s.events.emit('audit', {
          type: 'logout',
          actor: sub ?? sid,
          idp,
          detail: { backchannel: true, revoked },
        });
      res.status(200).end();
    } catch (err) {
      // The store down: a 503 the IdP may retry, not a verdict on its token.
      if (isStoreUnavailable(err)) {
        res.status(503).json({ error: 'temporarily_unavailable' });
        return;
      }
      res
        .status(400)
        .json({ error: 'invalid_request', error_description: (err as Error).message.slice(0, 200) });
    }
  });

  router.get('/me', async (req: Req, res, next) => {
    try {
      const loaded = await sessions.load(req);
      if (!loaded) {
        res.status(401).json({ error: 'PORTICO_ERR_UNAUTHENTICATED', login: '/_portico/login' });
        return;
      }
      const { claims: _claims, ...visible } = loaded.data.identity;
      res.json({
        ...visible,
        session: { createdAt: loaded.data.createdAt, expiresAt: loaded.data.createdAt + sessions.maxAgeMs },
      });
    } catch (err) {
      next(err);
    }
  });

  router.get('/jwks.json', async (_req, res, next) => {
    try {
      res.set('cache-control', 'public, max-age=300').json(await jwks());
    } catch (err) {
      next(err);
    }
  });

  function loginEvent(
    req: Req,
    idp: string,
    result: 'success' | 'failure',
    identity?: Identity,
    reason?: string,
    /** A failure's user: the name typed at the sign-in form, never verified. */
    attemptedUser?: string,
  ) {
    if (!s.events.has('login')) return;
    // The id comes from the URL: only a configured one is said (in alerts, metrics labels, the log).
    const known = providersOf().has(idp) ? idp : 'unknown';
    s.events.emit('login', {
      idp: known,
      result,
      reason,
      user: identity?.username ?? attemptedUser,
      ip: req.portico?.clientIp,
    });
  }

  return router;
}

/** At most this many characters of a typed user name go into events, the audit log and alerts. */
const MAX_ATTEMPTED_USER = 64;

/**
 * The user name typed at a failed sign-in, as the login event carries it: untrusted text (anyone
 * can type anything), so trimmed as the directory reads it, control and formatting characters
 * (line breaks, bidi overrides, zero-width) made visible as U+FFFD, and cut to 64 characters.
 */
export function attemptedUserName(typed: unknown): string | undefined {
  if (typeof typed !== 'string') return undefined;
  const trimmed = typed.slice(0, 4 * MAX_ATTEMPTED_USER).trim();
  if (trimmed === '') return undefined;
  // Cut by characters (code points), not UTF-16 units: a cut never leaves half a surrogate pair.
  const chars = [...trimmed];
  const name =
    chars.length > MAX_ATTEMPTED_USER ? `${chars.slice(0, MAX_ATTEMPTED_USER - 1).join('')}…` : trimmed;
  return name.replace(/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/gu, '\uFFFD');
}

function providerOr404(providers: Map<string, LoginProvider>, id: string): LoginProvider {
  const p = providers.get(id);
  if (!p) throw new GatewayError('PORTICO_ERR_NOT_FOUND');
  return p;
}
