import type { IncomingMessage } from 'node:http';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as client from 'openid-client';
import type { RawIdentityProvider } from '../../config/types.ts';
import type { Identity } from '../../context.ts';
import { GatewayError } from '../../errors.ts';
import type { Lang } from '../../pages/negotiate.ts';
import type { Tokens } from '../session/sessionData.ts';
import { type ClaimMapping, claimsToIdentity } from './claimsToIdentity.ts';
import type { CompleteInput, LoginProvider, LoginResult } from './types.ts';

export type OidcDefinition = RawIdentityProvider & {
  issuer: string;
  clientId: string;
  clientSecret?: string;
  scopes?: string[];
  claims?: ClaimMapping;
  /** Audiences accepted for bearer JWTs of machine clients (default: the client id). */
  audiences?: string[];
  /** Extra authorization parameters (e.g. `hd` for Google, `prompt`). */
  authorizationParams?: Record<string, string>;
  /** Fetch the userinfo endpoint after login and merge its claims. */
  userinfo?: boolean;
};

/** A check applied to the verified ID token claims before the login is accepted (Google `hd`). */
export type ClaimsCheck = (claims: Record<string, unknown>) => string | undefined;

const BACKCHANNEL_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/**
 * OpenID Connect with openid-client: discovery, authorization code + PKCE, state and nonce from
 * the browser's own login transaction (consumed before the code is redeemed), the `iss`
 * response parameter checked when the IdP advertises it, refresh, RP-initiated and back-channel
 * logout, and bearer JWTs for machine clients verified against the IdP's JWKS.
 */
export function createOidcProvider(
  def: OidcDefinition,
  options: { type?: string; check?: ClaimsCheck } = {},
): LoginProvider {
  let discovered: Promise<client.Configuration> | undefined;
  let jwks: ReturnType<typeof createRemoteJWKSet> | undefined;

  const configuration = () => {
    discovered ??= client
      .discovery(
        new URL(def.issuer),
        def.clientId,
        def.clientSecret ? { client_secret: def.clientSecret } : undefined,
        undefined,
        {
          execute: def.issuer.startsWith('http:') ? [client.allowInsecureRequests] : [],
          timeout: 5,
        },
      )
      .catch((err: unknown) => {
        discovered = undefined; // try again on the next request: the IdP may be back
        throw new GatewayError('PORTICO_ERR_IDP', { cause: err });
      });
    return discovered;
  };
  const keySet = async () => {
    const c = await configuration();
    const uri = c.serverMetadata().jwks_uri;
    if (!uri) throw new GatewayError('PORTICO_ERR_IDP', { detail: 'the IdP publishes no jwks_uri' });
    jwks ??= createRemoteJWKSet(new URL(uri), { timeoutDuration: 5000, cooldownDuration: 30_000 });
    return { jwks, issuer: c.serverMetadata().issuer };
  };
  const toTokens = (r: client.TokenEndpointResponse, previous?: Tokens): Tokens => ({
    accessToken: r.access_token,
    refreshToken: r.refresh_token ?? previous?.refreshToken,
    idToken: r.id_token ?? previous?.idToken,
    expiresAt: r.expires_in ? Date.now() + r.expires_in * 1000 : undefined,
  });

  return {
    id: def.id,
    type: options.type ?? 'oidc',
    kind: 'redirect',
    displayName: (lang: Lang) => localised(def.name, lang) ?? def.id,
    async ready() {
      await configuration();
    },
    async probe() {
      const url = new URL(def.issuer);
      url.pathname = `${url.pathname.replace(/\/$/, '')}/.well-known/openid-configuration`;
      const res = await fetch(url, { signal: AbortSignal.timeout(3000) }).catch((err: unknown) => {
        throw new GatewayError('PORTICO_ERR_IDP', { cause: err });
      });
      if (!res.ok) throw new GatewayError('PORTICO_ERR_IDP', { detail: `HTTP ${res.status}` });
      await res.body?.cancel();
    },
    async begin(txn, state, callbackUrl) {
      const c = await configuration();
      const verifier = client.randomPKCECodeVerifier();
      const nonce = client.randomNonce();
      txn.verifier = verifier;
      txn.nonce = nonce;
      return client.buildAuthorizationUrl(c, {
        redirect_uri: callbackUrl,
        scope: (def.scopes ?? ['openid', 'profile', 'email']).join(' '),
        state,
        nonce,
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        ...def.authorizationParams,
      });
    },
    async complete(_req: IncomingMessage, input: CompleteInput): Promise<LoginResult> {
      const { txn, state } = input;
      if (!txn || !state || !txn.verifier || !txn.nonce)
        throw new GatewayError('PORTICO_ERR_LOGIN', {
          detail: 'The sign-in link expired or was already used.',
        });
      const c = await configuration();
      let result: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
      try {
        result = await client.authorizationCodeGrant(c, input.callbackUrl, {
          pkceCodeVerifier: txn.verifier,
          expectedState: state,
          expectedNonce: txn.nonce,
          idTokenExpected: true,
        });
      } catch (err) {
        throw new GatewayError('PORTICO_ERR_LOGIN', { cause: err });
      }
      let claims = { ...(result.claims() ?? {}) } as Record<string, unknown>;
      if (def.userinfo && result.access_token) {
        const info = await client
          .fetchUserInfo(c, result.access_token, String(claims.sub))
          .catch(() => undefined);
        if (info) claims = { ...info, ...claims };
      }
      const refusal = options.check?.(claims);
      if (refusal) throw new GatewayError('PORTICO_ERR_FORBIDDEN', { detail: refusal });
      return {
        identity: claimsToIdentity(def.id, claims, def.claims),
        tokens: toTokens(result),
        idpSid: typeof claims.sid === 'string' ? claims.sid : undefined,
      };
    },
    async endSessionUrl(session, postLogoutRedirect) {
      const c = await configuration().catch(() => undefined);
      if (!c?.serverMetadata().end_session_endpoint) return undefined;
      const params: Record<string, string> = {
        post_logout_redirect_uri: postLogoutRedirect,
        client_id: def.clientId,
      };
      if (session.tokens?.idToken) params.id_token_hint = session.tokens.idToken;
      return client.buildEndSessionUrl(c, params);
    },
    async verifyBearer(token) {
      const { jwks: set, issuer } = await keySet();
      try {
        const { payload } = await jwtVerify(token, set, {
          issuer,
          audience: def.audiences ?? [def.clientId],
          clockTolerance: 30,
        });
        return claimsToIdentity(def.id, payload as Record<string, unknown>, def.claims) satisfies Identity;
      } catch {
        return undefined;
      }
    },
    async verifyLogoutToken(token) {
      const { jwks: set, issuer } = await keySet();
      const { payload } = await jwtVerify(token, set, {
        issuer,
        audience: def.clientId,
        maxTokenAge: '5m',
        clockTolerance: 30,
      });
      const events = payload.events as Record<string, unknown> | undefined;
      if (!events || typeof events[BACKCHANNEL_EVENT] !== 'object')
        throw new Error('not a back-channel logout token');
      if (payload.nonce !== undefined) throw new Error('logout tokens must not carry a nonce');
      const sid = typeof payload.sid === 'string' ? payload.sid : undefined;
      const sub = typeof payload.sub === 'string' ? payload.sub : undefined;
      if (!sid && !sub) throw new Error('logout token names neither sid nor sub');
      return { sid, sub };
    },
    async refresh(tokens) {
      if (!tokens.refreshToken) throw new Error('no refresh token');
      const c = await configuration();
      return toTokens(await client.refreshTokenGrant(c, tokens.refreshToken), tokens);
    },
  };
}

export function localised(value: unknown, lang: Lang): string | undefined {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object') {
    const v = value as Record<string, string>;
    return v[lang] ?? v['en-US'] ?? Object.values(v)[0];
  }
  return undefined;
}
