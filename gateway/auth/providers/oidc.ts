import type { IncomingMessage } from 'node:http';
import { createHash } from 'node:crypto';
import type { createRemoteJWKSet, JWTPayload } from 'jose';
import type * as Client from 'openid-client';
import { jose, openidClient } from '../../libraries.ts';
import type { ProviderDefinition } from '../../config/types.ts';
import type { Identity } from '../../context.ts';
import { GatewayError } from '../../errors.ts';
import type { Lang } from '../../pages/negotiate.ts';
import type { Tokens } from '../session/sessionData.ts';
import { claimsToIdentity } from './claimsToIdentity.ts';
import type { CompleteInput, LoginProvider, LoginResult } from './types.ts';
import { boundedCache } from '../../store/boundedCache.ts';

/**
 * What the OpenID Connect provider takes: an `oidc` definition from routes.yaml, or the one Google
 * and GitLab sign-in build from theirs.
 */
/** jose's errors that are a verdict on the token, not on reaching the IdP's keys. */
const TOKEN_FAULTS = new Set([
  'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
  'ERR_JWT_EXPIRED',
  'ERR_JWT_CLAIM_VALIDATION_FAILED',
  'ERR_JWT_INVALID',
  'ERR_JWS_INVALID',
  'ERR_JOSE_ALG_NOT_ALLOWED',
  'ERR_JOSE_NOT_SUPPORTED',
]);

/** How long a successful reachability check of the IdP holds (see probe). */
const PROBE_HOLD_MS = 1000;
/** How long a failed discovery answers readiness checks before the IdP is asked again. */
const READY_HOLD_MS = 5000;

export type OidcDefinition = Omit<ProviderDefinition<'oidc'>, 'type'> & { type: string };

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
  let discovered: Promise<Client.Configuration> | undefined;
  let jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
  let readyFailure: { err: unknown; until: number } | undefined;

  const configuration = () => {
    discovered ??= openidClient()
      .then((client) =>
        client.discovery(
          new URL(def.issuer),
          def.clientId,
          def.clientSecret ? { client_secret: def.clientSecret } : undefined,
          undefined,
          {
            execute: def.issuer.startsWith('http:') ? [client.allowInsecureRequests] : [],
            timeout: 5,
          },
        ),
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
    jwks ??= (await jose()).createRemoteJWKSet(new URL(uri), {
      timeoutDuration: 5000,
      cooldownDuration: 30_000,
    });
    return { jwks, issuer: c.serverMetadata().issuer };
  };
  const toTokens = (r: Client.TokenEndpointResponse, previous?: Tokens): Tokens => ({
    accessToken: r.access_token,
    refreshToken: r.refresh_token ?? previous?.refreshToken,
    idToken: r.id_token ?? previous?.idToken,
    expiresAt: r.expires_in ? Date.now() + r.expires_in * 1000 : undefined,
  });

  // Tokens already checked, until they (or a minute) expire: checking costs a signature or a call.
  const verified = boundedCache<string, Identity>(10_000);
  // Tokens the IdP refused, for ten seconds: a client sending made-up tokens to a `bearer: verify`
  // route would otherwise have Portico ask the IdP's introspection endpoint once per request.
  const refused = boundedCache<string, true>(10_000, { ttl: 10_000 });

  /**
   * An access token meant for Portico, with the claims to sign in with, or undefined. A JWT is
   * checked against the IdP's keys, must be an access token (never an ID token: those are for the
   * client that asked for them, and outlive a logout) and must be meant for Portico (an audience
   * of `audiences`, or issued to Portico's own client). An opaque token is asked about at the IdP's
   * introspection endpoint. Either way the IdP's userinfo supplies the claims a browser sign-in gets.
   */
  /** The token's claims; 'refused' when the IdP's keys or answer say no; undefined when it could not be asked. */
  const checkAccessToken = async (
    token: string,
  ): Promise<{ claims: Record<string, unknown>; expiresAt: number | undefined } | 'refused' | undefined> => {
    const c = await configuration();
    const [client, { jwtVerify, decodeProtectedHeader }] = await Promise.all([openidClient(), jose()]);
    let claims: Record<string, unknown>;
    // An introspection answer that does not say what kind of token it is (see introspectedKind).
    let kindUnknown = false;
    if (token.split('.').length === 3) {
      const { jwks: set, issuer } = await keySet();
      let payload: JWTPayload;
      try {
        // An access token that never expires is not one Portico accepts as a login.
        ({ payload } = await jwtVerify(token, set, { issuer, clockTolerance: 30, requiredClaims: ['exp'] }));
      } catch (err) {
        // The token itself is wrong; the IdP's keys could not be had (a timeout, a key rotated in
        // moments ago) is no verdict on it, and is not remembered as one.
        return TOKEN_FAULTS.has((err as { code?: string }).code ?? '') ? 'refused' : undefined;
      }
      if (!isAccessToken(decodeProtectedHeader(token).typ, payload)) return 'refused';
      // Bound to a key (RFC 9449 DPoP, RFC 8705 mutual TLS: `cnf`): only its holder's proof makes
      // it a credential, and Portico checks none, so a copy of it is no login either.
      if (payload.cnf !== undefined) return 'refused';
      if (!meantForPortico(payload)) return 'refused';
      claims = { ...payload };
    } else {
      if (!c.serverMetadata().introspection_endpoint || !def.clientSecret) return undefined;
      const r = await client.tokenIntrospection(c, token).catch(() => undefined);
      if (!r) return undefined;
      if (!r.active) return 'refused';
      const kind = introspectedKind(r as Record<string, unknown>);
      if (kind === 'other') return 'refused';
      kindUnknown = kind === 'unknown';
      if (!meantForPortico(r as Record<string, unknown>)) return 'refused';
      claims = { ...r } as Record<string, unknown>;
    }
    if (typeof claims.sub !== 'string' || claims.sub === '') return undefined;
    // The userinfo endpoint takes access tokens only: where introspection did not say the token is
    // one (oidc-provider's answer for a refresh token), it is asked even with `userinfo: false`, and
    // its refusal is the IdP's verdict.
    if ((def.userinfo !== false || kindUnknown) && c.serverMetadata().userinfo_endpoint) {
      const info = await client.fetchUserInfo(c, token, claims.sub).catch((err: unknown) => ({ err }));
      if (!('err' in info)) {
        if (def.userinfo !== false) claims = { ...claims, ...info };
      } else if (kindUnknown) {
        const status = (info.err as { status?: unknown }).status;
        return status === 401 || status === 403 ? 'refused' : undefined;
      }
    }
    // RFC 7662 makes `exp` optional: such a token's end is unknown (answers are kept a minute).
    return { claims, expiresAt: typeof claims.exp === 'number' ? claims.exp * 1000 : undefined };
  };

  // The last discovery fetch that succeeded, and the one in flight (see probe).
  const probed: { at: number; pending: Promise<void> | undefined } = { at: 0, pending: undefined };

  const meantForPortico = (claims: Record<string, unknown>): boolean => {
    const aud = Array.isArray(claims.aud)
      ? claims.aud.map(String)
      : claims.aud === undefined
        ? []
        : [String(claims.aud)];
    if (def.audiences?.length) return aud.some((a) => def.audiences!.includes(a));
    return claims.azp === def.clientId || claims.client_id === def.clientId;
  };

  return {
    id: def.id,
    type: options.type ?? 'oidc',
    kind: 'redirect',
    displayName: (lang: Lang) => localised(def.name, lang) ?? def.id,
    ready() {
      // /_portico/readyz is public: concurrent probes already share one discovery (configuration),
      // and a failed one holds for a few seconds, so probes after an outage do not each ask the IdP.
      if (readyFailure && Date.now() < readyFailure.until) return Promise.reject(readyFailure.err);
      return configuration().then(
        () => undefined,
        (err: unknown) => {
          readyFailure = { err, until: Date.now() + READY_HOLD_MS };
          throw err;
        },
      );
    },
    probe() {
      // Every sign-in starts with it, and anyone can start one: an answer holds for a second,
      // and concurrent sign-ins share one request, so visitors cannot make Portico hammer the IdP.
      if (Date.now() - probed.at < PROBE_HOLD_MS) return Promise.resolve();
      probed.pending ??= (async () => {
        const url = new URL(def.issuer);
        url.pathname = `${url.pathname.replace(/\/$/, '')}/.well-known/openid-configuration`;
        const res = await fetch(url, { signal: AbortSignal.timeout(3000) }).catch((err: unknown) => {
          throw new GatewayError('PORTICO_ERR_IDP', { cause: err });
        });
        if (!res.ok) throw new GatewayError('PORTICO_ERR_IDP', { detail: `HTTP ${res.status}` });
        await res.body?.cancel();
        probed.at = Date.now();
      })().finally(() => {
        probed.pending = undefined;
      });
      return probed.pending;
    },
    async begin(txn, state, callbackUrl) {
      const c = await configuration();
      const client = await openidClient();
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
      const client = await openidClient();
      let result: Client.TokenEndpointResponse & Client.TokenEndpointResponseHelpers;
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
    async endSessionUrl(_session, postLogoutRedirect) {
      const c = await configuration().catch(() => undefined);
      if (!c?.serverMetadata().end_session_endpoint) return undefined;
      const client = await openidClient();
      const params: Record<string, string> = {
        post_logout_redirect_uri: postLogoutRedirect,
        client_id: def.clientId,
      };
      // No id_token_hint: it would put the ID token in the browser's URL, history and the IdP's
      // logs. client_id names us instead (OpenID RP-Initiated Logout 1.0 §2).
      return client.buildEndSessionUrl(c, params);
    },
    async verifyBearer(token) {
      const key = createHash('sha256').update(token).digest('base64url');
      const hit = verified.get(key);
      if (hit) return hit;
      if (refused.get(key)) return undefined;
      const checked = await checkAccessToken(token);
      if (checked === 'refused') refused.set(key, true);
      if (checked === undefined || checked === 'refused') return undefined;
      const refusal = options.check?.(checked.claims);
      if (refusal) {
        // A user the provider's rules refuse (hostedDomain, allowedGroups) stays refused: asked
        // again at every request, the same token would cost an introspection and a userinfo call each.
        refused.set(key, true);
        return undefined;
      }
      const identity = {
        ...claimsToIdentity(def.id, checked.claims, def.claims),
        tokenExpiresAt: checked.expiresAt,
      };
      const lives = (checked.expiresAt ?? Number.POSITIVE_INFINITY) - Date.now();
      verified.set(key, identity, { ttl: Math.max(1000, Math.min(60_000, lives)) });
      return identity;
    },
    async verifyLogoutToken(token) {
      const { jwks: set, issuer } = await keySet();
      const { jwtVerify } = await jose();
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
      // Required by the specification (OpenID Connect Back-Channel Logout 1.0, §2.4), and what
      // tells a replay apart (loginRouter.ts remembers it for the token's accepted age).
      if (typeof payload.jti !== 'string' || payload.jti === '') throw new Error('logout token has no jti');
      return { sid, sub, jti: payload.jti };
    },
    async refresh(tokens) {
      if (!tokens.refreshToken) throw new Error('no refresh token');
      const c = await configuration();
      const client = await openidClient();
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

/**
 * What kind of token an active introspection answer (RFC 7662) describes. Only an access token
 * used as a bearer token is a login: a refresh token is active too, and would be a credential that
 * outlives the session it was issued in, usable without the client's secret (ORY Hydra says
 * `token_use: refresh_token`, Keycloak-style answers `typ: Refresh`); a token bound to a key (`cnf`:
 * DPoP, mutual TLS) needs a proof Portico does not check. `token_type` is optional, and
 * oidc-provider leaves it out for refresh tokens alone: 'unknown' then, for the userinfo endpoint
 * to decide (see checkAccessToken).
 */
function introspectedKind(r: Record<string, unknown>): 'access' | 'other' | 'unknown' {
  if (r.cnf !== undefined) return 'other';
  if (r.token_use !== undefined && r.token_use !== 'access_token') return 'other';
  if (typeof r.typ === 'string' && /^(refresh|offline|id)$/i.test(r.typ)) return 'other';
  if (r.token_type !== undefined)
    return typeof r.token_type === 'string' && /^(bearer|access_token)$/i.test(r.token_type)
      ? 'access'
      : 'other';
  return r.token_use === 'access_token' ? 'access' : 'unknown';
}

/**
 * An access token, not an ID token: RFC 9068's `at+jwt` type, Keycloak's `typ: Bearer`, or a token
 * with a scope and none of the claims only ID tokens carry (nonce, at_hash, c_hash).
 */
function isAccessToken(typ: string | undefined, payload: JWTPayload): boolean {
  const t = typ?.toLowerCase();
  if (t === 'at+jwt' || t === 'application/at+jwt') return true;
  if (payload.typ === 'Bearer') return true;
  if (payload.typ === 'ID' || payload.typ === 'Refresh') return false;
  if (payload.nonce !== undefined || payload.at_hash !== undefined || payload.c_hash !== undefined)
    return false;
  return typeof payload.scope === 'string' || Array.isArray(payload.scp) || typeof payload.scp === 'string';
}
