// An identity provider registered in ghippo (Global Management → Access Control → Identity
// Provider → OIDC): what Keycloak's OIDC broker does with it. DCE's form asks for a client id and
// secret, the client authentication method and a "Client URL" from which the well-known document
// is read; there is no issuer or JWKS field, so both come from discovery. The broker is a
// confidential client using the authorization code flow (PKCE only when asked for, as Keycloak's
// "Use PKCE" switch is off by default); every ID token and logout token is verified against the
// provider's JWKS.
import { createHash } from 'node:crypto';
import { createRemoteJWKSet, type JWTPayload, jwtVerify } from 'jose';

export type IdentityProviderOptions = {
  /** Keycloak's alias: part of the broker URLs and the value `kc_idp_hint` selects. */
  alias: string;
  /** The button on the realm's login page; DCE shows "OIDC (custom)" for a custom OIDC provider. */
  displayName?: string;
  /** The provider's issuer; discovery is read from `<issuer>/.well-known/openid-configuration`. */
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Default client_secret_post, the first choice on DCE's form. */
  clientAuthMethod?: 'client_secret_post' | 'client_secret_basic';
  /** Default openid, profile and email. */
  scopes?: string[];
  /** Send a PKCE challenge too (Keycloak's "Use PKCE"); default false. */
  pkce?: boolean;
  /**
   * Refuse the provider's back-channel logout tokens (400), as a Keycloak that does not end brokered
   * sessions that way would: DaoCloud does not document whether DCE 5's does (docs/dce5.md), so
   * its realm sessions may outlive the provider's. Default false (they are accepted).
   */
  refuseLogoutTokens?: boolean;
};

export type ProviderMetadata = {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
  userinfo_endpoint?: string;
  end_session_endpoint?: string;
};

/** Who the provider says signed in, after the ID token was verified. */
export type FederatedIdentity = {
  sub: string;
  /** The provider's session id (`sid`), which its back-channel logout tokens name. */
  sid?: string;
  username: string;
  email?: string;
  name?: string;
  /** Kept for RP-initiated logout at the provider (`id_token_hint`). */
  idToken: string;
};

export type LogoutClaims = { sid?: string; sub?: string; jti?: string; exp?: number };

export type IdentityProvider = {
  readonly alias: string;
  readonly displayName: string;
  readonly issuer: string;
  readonly usesPkce: boolean;
  readonly refusesLogoutTokens: boolean;
  metadata(): Promise<ProviderMetadata>;
  authorizationUrl(p: {
    redirectUri: string;
    state: string;
    nonce: string;
    codeVerifier?: string;
  }): Promise<string>;
  redeemCode(p: {
    code: string;
    redirectUri: string;
    nonce: string;
    codeVerifier?: string;
  }): Promise<FederatedIdentity>;
  verifyLogoutToken(token: string): Promise<LogoutClaims>;
  endSessionUrl(p: {
    idTokenHint: string;
    postLogoutRedirectUri: string;
    state: string;
  }): Promise<string | undefined>;
};

const ALGORITHMS = ['RS256', 'PS256', 'ES256'];
const BACKCHANNEL_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
const TIMEOUT_MS = 10_000;

export function createIdentityProvider(o: IdentityProviderOptions): IdentityProvider {
  if (!/^[A-Za-z0-9_-]+$/.test(o.alias))
    throw new Error(`identity provider alias "${o.alias}": letters, digits, - and _ only`);
  const issuer = o.issuer.replace(/\/+$/, '');
  const scopes = o.scopes ?? ['openid', 'profile', 'email'];
  const authMethod = o.clientAuthMethod ?? 'client_secret_post';
  let discovered:
    | Promise<{ meta: ProviderMetadata; jwks: ReturnType<typeof createRemoteJWKSet> }>
    | undefined;

  const discover = () => {
    discovered ??= fetchMetadata(issuer).then((meta) => ({
      meta,
      jwks: createRemoteJWKSet(new URL(meta.jwks_uri), { timeoutDuration: TIMEOUT_MS }),
    }));
    // A provider that was down at the first sign-in is asked again at the next one.
    discovered.catch(() => {
      discovered = undefined;
    });
    return discovered;
  };

  const verify = async (token: string, extra: { maxTokenAge?: string } = {}) => {
    const { meta, jwks } = await discover();
    const { payload } = await jwtVerify(token, jwks, {
      issuer: meta.issuer,
      audience: o.clientId,
      algorithms: ALGORITHMS,
      ...extra,
    });
    if (Array.isArray(payload.aud) && payload.aud.length > 1 && payload.azp !== o.clientId)
      throw new Error('the token has several audiences and another authorized party');
    return payload;
  };

  return {
    alias: o.alias,
    displayName: o.displayName ?? 'OIDC (custom)',
    issuer,
    usesPkce: o.pkce ?? false,
    refusesLogoutTokens: o.refuseLogoutTokens ?? false,

    metadata: async () => (await discover()).meta,

    async authorizationUrl({ redirectUri, state, nonce, codeVerifier }) {
      const { meta } = await discover();
      const url = new URL(meta.authorization_endpoint);
      url.searchParams.set('client_id', o.clientId);
      url.searchParams.set('response_type', 'code');
      url.searchParams.set('redirect_uri', redirectUri);
      url.searchParams.set('scope', scopes.join(' '));
      url.searchParams.set('state', state);
      url.searchParams.set('nonce', nonce);
      if (codeVerifier !== undefined) {
        url.searchParams.set('code_challenge', createHash('sha256').update(codeVerifier).digest('base64url'));
        url.searchParams.set('code_challenge_method', 'S256');
      }
      return url.href;
    },

    async redeemCode({ code, redirectUri, nonce, codeVerifier }) {
      const { meta } = await discover();
      const body = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri });
      if (codeVerifier !== undefined) body.set('code_verifier', codeVerifier);
      const headers: Record<string, string> = {
        'content-type': 'application/x-www-form-urlencoded',
        accept: 'application/json',
      };
      if (authMethod === 'client_secret_basic') {
        const pair = `${encodeURIComponent(o.clientId)}:${encodeURIComponent(o.clientSecret)}`;
        headers.authorization = `Basic ${Buffer.from(pair).toString('base64')}`;
      } else {
        body.set('client_id', o.clientId);
        body.set('client_secret', o.clientSecret);
      }
      const res = await fetch(meta.token_endpoint, {
        method: 'POST',
        headers,
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
      const json = (await res.json().catch(() => ({}))) as Record<string, unknown>;
      if (!res.ok)
        throw new Error(`the token endpoint answered ${res.status} ${String(json.error ?? '')}`.trim());
      if (typeof json.id_token !== 'string') throw new Error('the token response has no ID token');
      const claims = await verify(json.id_token);
      if (claims.nonce !== nonce) throw new Error('the ID token nonce does not match this sign-in');
      let profile: JWTPayload = claims;
      if (
        typeof claims.preferred_username !== 'string' &&
        meta.userinfo_endpoint &&
        typeof json.access_token === 'string'
      )
        profile = { ...(await userinfo(meta.userinfo_endpoint, json.access_token, claims.sub!)), ...claims };
      const username = str(profile.preferred_username) ?? str(profile.email) ?? claims.sub!;
      return {
        sub: claims.sub!,
        sid: str(claims.sid),
        username,
        email: str(profile.email),
        name: str(profile.name),
        idToken: json.id_token,
      };
    },

    async verifyLogoutToken(token) {
      // OpenID Connect Back-Channel Logout 1.0 §2.6: signed by the provider, for this client,
      // with the logout event, naming a session or a subject, and never carrying a nonce.
      const claims = await verify(token, { maxTokenAge: '10m' });
      const events = claims.events as Record<string, unknown> | undefined;
      if (typeof events !== 'object' || events === null || !(BACKCHANNEL_EVENT in events))
        throw new Error('not a logout token (no back-channel logout event)');
      if ('nonce' in claims) throw new Error('a logout token must not carry a nonce');
      const sid = str(claims.sid);
      const sub = str(claims.sub);
      if (sid === undefined && sub === undefined)
        throw new Error('the logout token names no session and no subject');
      return { sid, sub, jti: str(claims.jti), exp: claims.exp };
    },

    async endSessionUrl({ idTokenHint, postLogoutRedirectUri, state }) {
      const { meta } = await discover();
      if (!meta.end_session_endpoint) return undefined;
      const url = new URL(meta.end_session_endpoint);
      url.searchParams.set('id_token_hint', idTokenHint);
      url.searchParams.set('post_logout_redirect_uri', postLogoutRedirectUri);
      url.searchParams.set('state', state);
      url.searchParams.set('client_id', o.clientId);
      return url.href;
    },
  };
}

async function fetchMetadata(issuer: string): Promise<ProviderMetadata> {
  const url = `${issuer}/.well-known/openid-configuration`;
  const res = await fetch(url, {
    headers: { accept: 'application/json' },
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  if (!res.ok) throw new Error(`${url} answered ${res.status}`);
  const meta = (await res.json()) as Partial<ProviderMetadata>;
  if (meta.issuer !== issuer)
    throw new Error(`discovery names issuer ${String(meta.issuer)}, expected ${issuer}`);
  for (const key of ['authorization_endpoint', 'token_endpoint', 'jwks_uri'] as const) {
    const value = meta[key];
    if (typeof value !== 'string' || !/^https?:\/\//.test(value))
      throw new Error(`discovery has no usable ${key}`);
  }
  return meta as ProviderMetadata;
}

async function userinfo(endpoint: string, accessToken: string, sub: string): Promise<JWTPayload> {
  const res = await fetch(endpoint, {
    headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' },
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  if (!res.ok) throw new Error(`the userinfo endpoint answered ${res.status}`);
  const info = (await res.json()) as JWTPayload;
  if (info.sub !== sub) throw new Error('userinfo is about another subject');
  return info;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}
