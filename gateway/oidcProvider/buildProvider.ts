import type { JWK } from 'jose';
import { OP_COOKIES } from '../config/ownCookieNames.ts';
// @ts-expect-error -- oidc-provider ships no type declarations; see ./types.ts.
import Provider, { errors, interactionPolicy } from 'oidc-provider';
import type { Logger } from 'pino';
import { LogoutTokenAlreadySent } from './logoutTokenGate.ts';
import type { Pages } from '../pages/pages.ts';
import { escapeHtml } from '../pages/escapeHtml.ts';
import { isStoreUnavailable } from '../errors.ts';
import { providerPages } from './providerPages.ts';
import type { KoaContext, OidcAdapter, OidcProvider } from './types.ts';

export type Account = { accountId: string; claims: () => Promise<Record<string, unknown>> };

export type ProviderParts = {
  /** `${publicUrl}/_portico/oidc` */
  issuer: string;
  /** publicUrl is https: cookies are Secure. */
  secure: boolean;
  cookieKeys: string[];
  signingKey: JWK;
  adapter: (model: string) => OidcAdapter;
  /** How long a Portico session may live: the ceiling of OP sessions, grants and refresh tokens. */
  sessionTtlSeconds: number;
  findAccount: (ctx: KoaContext, id: string, token?: { grantId?: string }) => Promise<Account | undefined>;
  /** True when the browser must go through the interaction (its Portico session is not this OP session's). */
  needsPorticoLogin: (ctx: KoaContext) => Promise<boolean>;
  /** True when the client's `allow` rules refuse the signed-in user. */
  clientRefuses: (ctx: KoaContext) => Promise<boolean>;
  pkceRequired: (clientId: string) => boolean;
  /** After a code is issued, before the redirect leaves: bind it to the Portico session. */
  onCodeIssued: (ctx: KoaContext) => Promise<void>;
  /** RP-initiated logout: a validated id_token_hint names the signed-in user of this Portico session. */
  logoutNamesSession: (ctx: KoaContext) => Promise<boolean>;
  /** RP-initiated logout asked its question; true: Portico asks the user instead (see porticoSessionHooks). */
  onLogoutAsked: (ctx: KoaContext) => Promise<boolean>;
  /** After RP-initiated logout was confirmed: end the Portico session too (single logout). */
  onLogout: (ctx: KoaContext) => Promise<void>;
  /** What logout tokens are sent with (see logoutTokenGate.ts). */
  fetch: (url: string, init: RequestInit & { dispatcher?: unknown }) => Promise<Response>;
  /** The gateway's own pages (its brand). */
  pages: Pages;
  log: Logger;
};

const COOKIE_PATH = '/_portico/oidc';

/**
 * A store that does not answer (Redis down, paused, cut off: PORTICO_ERR_UNAVAILABLE) as the
 * library's own `temporarily_unavailable` with 503: without it oidc-provider takes it for a bug of
 * its own and answers 500 `server_error` (logging a stack per request for as long as Redis is down).
 */
function storeDown(err: unknown): unknown {
  if (!isStoreUnavailable(err)) return err;
  const e = new errors.TemporarilyUnavailable('the session store does not answer; try again in a moment', {
    cause: err,
  });
  e.status = e.statusCode = 503;
  e.expose = true;
  return e;
}
const failingClosed =
  <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
  async (...args: A): Promise<R> => {
    try {
      return await fn(...args);
    } catch (err) {
      throw storeDown(err);
    }
  };

/**
 * The oidc-provider instance behind /_portico/oidc: authorization code (PKCE S256, required or
 * optional per client), ID token, userinfo, rotating refresh tokens, revocation, RP-initiated and
 * back-channel logout. No consent screen and no login page of its own: a login prompt goes to
 * Portico's interaction endpoint, which answers from the Portico session.
 */
export function buildProvider(parts: ProviderParts): OidcProvider {
  const p: ProviderParts = {
    ...parts,
    adapter: (model) => {
      const a = parts.adapter(model);
      return {
        upsert: failingClosed(a.upsert),
        find: failingClosed(a.find),
        findByUid: failingClosed(a.findByUid),
        findByUserCode: failingClosed(a.findByUserCode),
        consume: failingClosed(a.consume),
        destroy: failingClosed(a.destroy),
        revokeByGrantId: failingClosed(a.revokeByGrantId),
      };
    },
    findAccount: failingClosed(parts.findAccount),
    needsPorticoLogin: failingClosed(parts.needsPorticoLogin),
    clientRefuses: failingClosed(parts.clientRefuses),
    onCodeIssued: failingClosed(parts.onCodeIssued),
    logoutNamesSession: failingClosed(parts.logoutNamesSession),
    onLogoutAsked: failingClosed(parts.onLogoutAsked),
    onLogout: failingClosed(parts.onLogout),
  };
  const pages = providerPages(p.pages, p.logoutNamesSession);
  const policy = interactionPolicy.base();
  const { Check } = interactionPolicy;
  policy
    .get('login')
    .checks.push(
      new Check('portico_session', 'the Portico session ended or changed', p.needsPorticoLogin),
      new Check(
        'portico_allow',
        'this account may not use this application',
        'access_denied',
        p.clientRefuses,
      ),
    );
  const cookie = { httpOnly: true, sameSite: 'lax', secure: p.secure };
  const provider: OidcProvider = new Provider(p.issuer, {
    adapter: p.adapter,
    jwks: { keys: [p.signingKey] },
    cookies: {
      keys: p.cookieKeys,
      names: { ...OP_COOKIES },
      // The session cookie serves the whole issuer; the interaction cookies get their own paths below it.
      long: { ...cookie, path: COOKIE_PATH },
      short: cookie,
    },
    scopes: ['openid', 'offline_access', 'profile', 'email', 'groups'],
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username'],
      email: ['email', 'email_verified'],
      groups: ['groups'],
    },
    // The ID token carries the claims of the granted scopes (Keycloak brokers and Grafana read it).
    conformIdTokenClaims: false,
    responseTypes: ['code'],
    subjectTypes: ['public'],
    allowOmittingSingleRegisteredRedirectUri: false,
    pkce: { required: (_ctx: unknown, client: { clientId: string }) => p.pkceRequired(client.clientId) },
    ttl: {
      AccessToken: 600,
      AuthorizationCode: 60,
      IdToken: 3600,
      Interaction: 600,
      RefreshToken: p.sessionTtlSeconds,
      Session: p.sessionTtlSeconds,
      Grant: p.sessionTtlSeconds,
    },
    issueRefreshToken: async (_ctx: unknown, client: { grantTypeAllowed(type: string): boolean }) =>
      client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: true,
    findAccount: p.findAccount,
    interactions: {
      policy,
      url: async (_ctx: unknown, interaction: { uid: string }) =>
        `${COOKIE_PATH}/interaction/${interaction.uid}`,
    },
    clientBasedCORS: () => false,
    fetch: p.fetch,
    renderError: pages.renderError,
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: pages.logoutSource,
        postLogoutSuccessSource: pages.postLogoutSuccessSource,
      },
    },
  });
  // URLs come from X-Forwarded-Proto/-Host, which the feature sets from publicUrl on every request.
  provider.proxy = true;
  provider.use(async (ctx, next) => {
    await next();
    const oidc = ctx.oidc;
    if (!oidc) return;
    if ((oidc.route === 'authorization' || oidc.route === 'resume') && oidc.entities.AuthorizationCode)
      await p.onCodeIssued(ctx);
    else if (oidc.route === 'end_session' && ctx.status === 200) {
      if (await p.onLogoutAsked(ctx)) {
        const secret = oidc.session?.state?.secret ?? '';
        const action = oidc.urlFor('end_session_confirm');
        await pages.logoutSource(
          ctx,
          `<form id="op.logoutForm" method="post" action="${escapeHtml(action)}"><input type="hidden" name="xsrf" value="${escapeHtml(secret)}"/></form>`,
        );
      }
    } else if (oidc.route === 'end_session_confirm' && ctx.status === 303 && oidc.params?.logout)
      await p.onLogout(ctx);
  });
  provider.on('server_error', (_ctx: unknown, err: Error) => p.log.error({ err }, 'OpenID Provider error'));
  // Errors outside the library's own handler (the hooks above): logged here, not on stderr.
  // A store outage is logged once by the Redis client, not once per request here.
  provider.on('error', (err: Error & { error?: string }) => {
    if (err.error !== 'temporarily_unavailable') p.log.error({ err }, 'OpenID Provider request failed');
  });
  provider.on('backchannel.error', (_ctx: unknown, err: Error, client: { clientId: string }) => {
    if (!(err instanceof LogoutTokenAlreadySent))
      p.log.warn({ err, client: client.clientId }, 'back-channel logout failed');
  });
  return provider;
}
