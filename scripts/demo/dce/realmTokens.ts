// The realm's own tokens, RS256 with the realm key, shaped like Keycloak's: the access token is
// what the UI sends to `/apis/…` and what Istio verifies; the ID token names the session (`sid`)
// for logout. Refresh tokens are opaque and live in the store.
import { createLocalJWKSet, type JWTPayload, jwtVerify, SignJWT } from 'jose';
import { randomUUID } from 'node:crypto';
import type { BrokerStore, RealmUser, UserSession } from './brokerStore.ts';
import type { SigningKey } from './signingKey.ts';

export type TokenResponse = {
  access_token: string;
  expires_in: number;
  refresh_token: string;
  refresh_expires_in: number;
  token_type: 'Bearer';
  id_token: string;
  'not-before-policy': 0;
  session_state: string;
  scope: string;
};

export type RealmTokens = {
  issue(p: {
    user: RealmUser;
    session: UserSession;
    clientId: string;
    scope: string;
    nonce?: string;
  }): Promise<TokenResponse>;
  /** An access token of this realm (signature, issuer, expiry, `typ`); the caller checks the session. */
  verifyAccessToken(token: string): Promise<JWTPayload & { sid: string; sub: string }>;
  /** An ID token of this realm, accepted after it expired (as `id_token_hint` at logout is). */
  verifyIdTokenHint(token: string): Promise<JWTPayload>;
};

export function createRealmTokens(o: {
  issuer: string;
  key: SigningKey;
  store: BrokerStore;
  accessTokenTtlSeconds: number;
  sessionTtlSeconds: number;
}): RealmTokens {
  const jwks = createLocalJWKSet(o.key.jwks);
  const sign = (claims: JWTPayload, ttl: number) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: o.key.kid, typ: 'JWT' })
      .setIssuer(o.issuer)
      .setIssuedAt()
      .setJti(randomUUID())
      .setExpirationTime(`${ttl}s`)
      .sign(o.key.privateKey);

  return {
    async issue({ user, session, clientId, scope, nonce }) {
      const profile = {
        sub: user.id,
        preferred_username: user.username,
        ...(user.email !== undefined ? { email: user.email, email_verified: true } : {}),
        ...(user.name !== undefined ? { name: user.name } : {}),
      };
      const common = {
        azp: clientId,
        sid: session.id,
        session_state: session.id,
        auth_time: session.authTime,
      };
      const accessToken = await sign(
        { ...profile, ...common, typ: 'Bearer', scope },
        o.accessTokenTtlSeconds,
      );
      const idToken = await sign(
        { ...profile, ...common, typ: 'ID', aud: clientId, ...(nonce !== undefined ? { nonce } : {}) },
        o.accessTokenTtlSeconds,
      );
      const refreshLeft = Math.max(1, session.authTime + o.sessionTtlSeconds - Math.floor(Date.now() / 1000));
      return {
        access_token: accessToken,
        expires_in: o.accessTokenTtlSeconds,
        refresh_token: o.store.newRefreshToken({ clientId, sessionId: session.id, scope }),
        refresh_expires_in: refreshLeft,
        token_type: 'Bearer',
        id_token: idToken,
        'not-before-policy': 0,
        session_state: session.id,
        scope,
      };
    },

    async verifyAccessToken(token) {
      const { payload } = await jwtVerify(token, jwks, {
        issuer: o.issuer,
        algorithms: ['RS256'],
        typ: 'JWT',
      });
      if (payload.typ !== 'Bearer' || typeof payload.sid !== 'string' || typeof payload.sub !== 'string')
        throw new Error('not an access token of this realm');
      return payload as JWTPayload & { sid: string; sub: string };
    },

    async verifyIdTokenHint(token) {
      const { payload } = await jwtVerify(token, jwks, {
        issuer: o.issuer,
        algorithms: ['RS256'],
        currentDate: new Date(0), // expiry is ignored: logging out with an old ID token is normal
      });
      if (payload.typ !== 'ID') throw new Error('not an ID token of this realm');
      return payload;
    },
  };
}
